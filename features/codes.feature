Feature: Coded conditions (ICD-10-CM)
  A code in the record sets the same answers as the questionnaire, so it gives the same verdict. A code for a
  regional finding without a location means "yes, location unknown". A side is read only from the character
  of the code that holds it. (These patients answered "no" to everything, so each code also contradicts an
  answer: see consistency.feature.)

  Background:
    Given a patient who answers no to every screening question

  Scenario Outline: A code and the questionnaire answer agree
    Given the patient's record has the ICD-10-CM code <code>
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is <verdict>
    And rule <rule> fires

    Examples:
      | code    | verdict | rule                  |
      | F40.231 | refer   | NEEDLE_PHOBIA         |
      | Z95.2   | caution | HEART_VALVE           |
      | D66     | refer   | BLEED_DISORDER_SEVERE |
      | L23.0   | caution | METAL_ALLERGY         |
      | Z3A.10  | refer   | PREG_T1               |
      | Z3A.20  | caution | PREG_T2T3             |
      | B20     | caution | IMMUNOSUPPRESSION     |
      | I82.401 | refer   | DVT_ACUTE             |

  Scenario: A pacemaker code blocks electrical needling
    Given the patient's record has the ICD-10-CM code Z95.0
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then rule CARDIAC_DEVICE_ES fires with verdict refer

  Scenario: Lymphoedema coded without a location cannot be ruled out at any site
    Given the patient's record has the ICD-10-CM code I89.0
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule LYMPHEDEMA_LIMB cannot decide and gives caution

  Scenario: Postmastectomy lymphoedema concerns the arms, not the legs
    Given the patient's record has the ICD-10-CM code I97.2
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule LYMPHEDEMA_LIMB does not fire
    And rule LYMPHEDEMA_ADJACENT does not fire

  Scenario Outline: The side of a coded DVT is its sixth character, never the vein
    Given the patient answers "unknown" to "complete medication list"
    And the patient's record has the ICD-10-CM code <code>
    And dry needling is planned at the left calf
    When the patient is screened
    Then rule DVT_ACUTE <outcome>

    Examples:
      | code    | outcome                                 |
      | I82.402 | fires with verdict refer                |
      | I82.412 | fires with verdict refer                |
      | I82.401 | does not fire                           |
      | I82.41  | cannot decide and gives caution         |
      | I82.42  | cannot decide and gives caution         |

  Scenario: A coded DVT adds its leg to the clinician's
    Given an acute DVT in the left calf
    And the patient's record has the ICD-10-CM code I82.411
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule DVT_ACUTE fires with verdict refer for the site at the right calf

  Scenario: A diagnosis needlescreen does not read is checked, not refused and not ignored
    Given the patient's record has the ICD-10-CM code K21.9
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is caution
    And rule CONDITION_UNRECOGNISED fires with verdict caution

  Scenario: Left breast cancer places a tumour in the left breast
    Given the patient's record has the ICD-10-CM code C50.912
    And dry needling is planned at the left breast and the right calf
    When the patient is screened
    Then rule MALIGNANCY_AT_SITE fires with verdict refer for the site at the left breast
    And rule MALIGNANCY_AT_SITE does not fire for the site at the right calf
    And rule CONDITION_UNRECOGNISED does not fire

  Scenario Outline: Problem-list codes read as the answers they stand for
    Given the patient's record has the ICD-10-CM code <code>
    And dry needling is planned at the <site>
    When the patient is screened
    Then rule <rule> <outcome>
    And rule CONDITION_UNRECOGNISED does not fire

    Examples:
      | code   | site                  | rule              | outcome                         |
      | Z92.3  | right calf            | RADIOTHERAPY_SKIN | cannot decide and gives caution |
      | Z51.11 | right calf            | ACTIVE_CHEMO      | fires with verdict caution      |
      | J93.9  | left upper trapezius  | PTX_HIGH_RISK     | fires with verdict refer        |
