Feature: Thorax and vulnerable regions
  Needles over the lung fields are a caution (pneumothorax), stronger with risk factors; both sides of the
  thorax in one session are avoided; prohibited sites are never needled and vulnerable ones only with
  documented advanced training.

  Background:
    Given a patient who answers no to every screening question

  Scenario: Upper trapezius overlies the lung
    Given manual dry needling is planned at the right upper trapezius
    When the patient is screened
    Then the verdict is caution
    And rule THORAX fires with verdict caution
    And the advice includes "caudally"

  Scenario: The deltoid does not overlie the lung
    Given manual dry needling is planned at the right shoulder girdle
    When the patient is screened
    Then rule THORAX does not fire

  Scenario Outline: A lean patient over the thorax
    Given the patient's BMI is <bmi>
    And manual dry needling is planned at the left interscapular region
    When the patient is screened
    Then rule PTX_RISK_FACTORS <outcome>

    Examples:
      | bmi  | outcome       |
      | 18.4 | fires         |
      | 18.5 | does not fire |

  Scenario: COPD and a thoracic site
    Given the patient answers "yes" to "lung disease"
    And manual dry needling is planned at the left chest wall
    When the patient is screened
    Then rule PTX_RISK_FACTORS fires with verdict caution

  Scenario: Thoracic surgery and a thoracic site
    Given the patient answers "yes" to "thoracic surgery or kyphoscoliosis"
    And manual dry needling is planned at the left chest wall
    When the patient is screened
    Then rule PTX_RISK_FACTORS fires with verdict caution

  Scenario: A previous pneumothorax refers thoracic needling only
    Given the patient answers "yes" to "previous pneumothorax"
    And manual dry needling is planned at the left chest wall and the right calf
    When the patient is screened
    Then rule PTX_HIGH_RISK fires with verdict refer for the site at the left chest wall
    And rule PTX_HIGH_RISK does not fire for the site at the right calf
    And the site at the right calf is clear

  Scenario: Both sides of the thorax in one session
    Given manual dry needling is planned at the left upper trapezius and the right upper trapezius
    When the patient is screened
    Then rule BILATERAL_THORAX fires with verdict caution

  Scenario: One side of the thorax
    Given manual dry needling is planned at the left upper trapezius and the left interscapular region
    When the patient is screened
    Then rule BILATERAL_THORAX does not fire

  Scenario: A thoracic site written without a side may be on the other side
    Given manual dry needling is planned at the left upper trapezius and the thoracic paraspinal region
    When the patient is screened
    Then rule BILATERAL_THORAX cannot decide and gives caution
    And the result asks "which side"

  Scenario: The umbilicus is never needled
    Given manual dry needling is planned at the umbilicus
    When the patient is screened
    Then rule PROHIBITED_SITE fires with verdict refer

  Scenario Outline: An infant's scalp
    Given the patient is <age> years old
    And the patient answers "yes" to "guardian consent"
    And manual dry needling is planned at the scalp
    When the patient is screened
    Then rule PROHIBITED_SITE <outcome>

    Examples:
      | age | outcome       |
      | 1   | fires         |
      | 3   | does not fire |

  Scenario: The anterior neck without documented advanced training
    Given manual dry needling is planned at the right anterior neck
    And the patient answers "no" to "advanced training for vulnerable sites"
    When the patient is screened
    Then rule VULNERABLE_SITE fires with verdict refer

  Scenario: The anterior neck with documented advanced training
    Given manual dry needling is planned at the right anterior neck
    And the patient answers "yes" to "advanced training for vulnerable sites"
    When the patient is screened
    Then rule VULNERABLE_SITE does not fire

  Scenario: Training not recorded
    Given manual dry needling is planned at the suboccipital region
    When the patient is screened
    Then rule VULNERABLE_SITE cannot decide and gives refer

  Scenario: Spinal instability at the neck
    Given spinal instability in the posterior neck
    And manual dry needling is planned at the midline posterior neck and the midline lumbar region
    When the patient is screened
    Then rule SPINAL_INSTABILITY fires with verdict refer for the site at the midline posterior neck
    And rule SPINAL_INSTABILITY does not fire for the site at the midline lumbar region

  Scenario: Emphysema or bullae refer thoracic needling
    Given the patient answers "yes" to "lung disease"
    And the patient answers "yes" to "emphysema or bullae"
    And dry needling is planned at the left interscapular region and the right calf
    When the patient is screened
    Then rule PTX_BULLOUS fires with verdict refer for the site at the left interscapular region
    And the site at the right calf is clear

  Scenario: Other chronic lung disease is a caution over the thorax
    Given the patient answers "yes" to "lung disease"
    And the patient answers "no" to "emphysema or bullae"
    And dry needling is planned at the left interscapular region
    When the patient is screened
    Then rule PTX_RISK_FACTORS fires with verdict caution
    And rule PTX_BULLOUS does not fire

  Scenario: A pneumothorax on the other side, years ago, still refers thoracic needling
    Given the patient had a pneumothorax on the left side, 200 weeks ago
    And dry needling is planned at the right upper trapezius
    When the patient is screened
    Then rule PTX_HIGH_RISK fires with verdict refer
