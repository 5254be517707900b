Feature: Consent and the person
  No needle without informed consent; minors need a guardian; some people should not be needled at all
  (needle phobia, acute illness, cannot keep still) and some only with a reduced dose.

  Background:
    Given a patient who answers no to every screening question
    And dry needling is planned at the right calf

  Scenario: A patient who does not consent is not needled
    Given the patient answers "no" to "consent to needling"
    When the patient is screened
    Then the verdict is refer
    And rule CONSENT_REFUSED fires with verdict refer

  Scenario: A patient who consents
    Given the patient answers "yes" to "consent to needling"
    When the patient is screened
    Then rule CONSENT_REFUSED does not fire

  Scenario: A patient without capacity but with a valid proxy consent
    Given the patient answers "no" to "capacity to consent"
    And the patient answers "yes" to "guardian consent"
    When the patient is screened
    Then rule CONSENT_CAPACITY does not fire

  Scenario: A patient without capacity and no proxy
    Given the patient answers "no" to "capacity to consent"
    And the patient answers "no" to "guardian consent"
    When the patient is screened
    Then rule CONSENT_CAPACITY fires with verdict refer

  Scenario Outline: The age of majority
    Given the patient is <age> years old
    And the patient answers "yes" to "guardian consent"
    When the patient is screened
    Then the verdict is <verdict>
    And rule MINOR <outcome>

    Examples:
      | age | verdict | outcome       |
      | 17  | caution | fires         |
      | 18  | clear   | does not fire |

  Scenario: A minor with guardian consent is a caution
    Given the patient is 15 years old
    And the patient answers "yes" to "guardian consent"
    When the patient is screened
    Then rule MINOR fires with verdict caution
    And rule MINOR_NO_GUARDIAN does not fire

  Scenario: A minor without guardian consent is not needled yet
    Given the patient is 15 years old
    And the patient answers "no" to "guardian consent"
    When the patient is screened
    Then rule MINOR_NO_GUARDIAN fires with verdict refer

  Scenario: Needle phobia
    Given the patient answers "yes" to "needle phobia"
    When the patient is screened
    Then rule NEEDLE_PHOBIA fires with verdict refer

  Scenario: Fainting with needles is a caution, not a phobia
    Given the patient answers "yes" to "fainting with needles"
    When the patient is screened
    Then the verdict is caution
    And rule VASOVAGAL fires with verdict caution
    And rule NEEDLE_PHOBIA does not fire
    And the advice includes "lying down"

  Scenario: An acute or unexplained illness needs a medical assessment first
    Given the patient answers "yes" to "acute or unexplained illness"
    When the patient is screened
    Then rule ACUTE_MEDICAL fires with verdict refer

  Scenario: Nobody asked about acute illness
    Given the patient answers "unknown" to "acute or unexplained illness"
    When the patient is screened
    Then rule ACUTE_MEDICAL cannot decide and gives caution
    And rule FRAILTY does not fire
    And rule VASOVAGAL does not fire

  Scenario: No acute illness
    Given the patient answers "no" to "acute or unexplained illness"
    When the patient is screened
    Then rule ACUTE_MEDICAL does not fire

  Scenario: A frail patient gets a reduced dose
    Given the patient answers "yes" to "frailty"
    When the patient is screened
    Then rule FRAILTY fires with verdict caution

  Scenario: Limited cooperation while the patient can keep still
    Given the patient answers "yes" to "psychological or movement problems"
    When the patient is screened
    Then rule PSYCH_UNCOOPERATIVE fires with verdict caution
    And rule PSYCH_CANNOT_KEEP_STILL does not fire

  Scenario: A patient who cannot keep still is not needled
    Given the patient answers "no" to "able to keep still"
    When the patient is screened
    Then the verdict is refer
    And rule PSYCH_CANNOT_KEEP_STILL fires with verdict refer
    And rule PSYCH_UNCOOPERATIVE does not fire

  Scenario: A patient without capacity and no proxy consent on record is not needled
    Given the patient answers "no" to "capacity to consent"
    And the patient answers "unknown" to "guardian consent"
    When the patient is screened
    Then the verdict is refer
    And rule CONSENT_CAPACITY fires with verdict refer

  Scenario: A minor whose guardian's consent is not on record is not needled yet
    Given the patient is 16 years old
    And the patient answers "unknown" to "guardian consent"
    When the patient is screened
    Then the verdict is refer
    And rule MINOR_NO_GUARDIAN fires with verdict refer
