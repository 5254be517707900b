Feature: Infection
  A febrile or systemically infected patient is deferred; infected or broken skin is never needled, but only
  that site is affected.

  Background:
    Given a patient who answers no to every screening question

  Scenario Outline: The fever threshold
    Given the patient's temperature is <temp> °C
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is <verdict>
    And rule SYSTEMIC_INFECTION <outcome>

    Examples:
      | temp | verdict | outcome       |
      | 37.9 | clear   | does not fire |
      | 38.0 | refer   | fires         |

  Scenario: Systemic infection defers needling
    Given the patient answers "yes" to "fever or systemic infection"
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule SYSTEMIC_INFECTION fires with verdict refer

  Scenario: Cellulitis of the left leg does not concern the right calf
    Given cellulitis in the left calf
    And dry needling is planned at the right calf and the left calf
    When the patient is screened
    Then rule LOCAL_SKIN_SITE fires with verdict refer for the site at the left calf
    And rule LOCAL_SKIN_SITE does not fire for the site at the right calf
    And the site at the right calf is clear

  Scenario Outline: Skin disease at the site refers that site; needle elsewhere
    Given <condition> in the right knee
    And dry needling is planned at the right knee and the left knee
    When the patient is screened
    Then rule SKIN_DISEASE_SITE fires with verdict refer for the site at the right knee
    And the site at the left knee is clear

    Examples:
      | condition          |
      | eczema             |
      | a psoriasis plaque |
      | a keloid scar      |
      | a burn             |

  Scenario: A skin condition nobody asked about cannot be ruled out
    Given the patient answers "unknown" to "a skin condition"
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule SKIN_DISEASE_SITE cannot decide and gives caution
