Feature: Inputs as people write them
  A physiotherapist copies the medication list from an oncology chart and says where a finding is in everyday
  words. Doses by body size or target are read, not queried; a blood thinner typed with its letters swapped is
  still a blood thinner; "left arm" is the whole left arm.

  Background:
    Given a patient who answers no to every screening question

  Scenario Outline: A dose from an oncology or infusion chart is read with its drug
    Given the patient takes <entry>
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule <rule> fires with verdict caution
    And rule MEDICATION_UNRECOGNISED does not fire

    Examples:
      | entry                       | rule           |
      | paclitaxel 80 mg/m2 weekly  | ACTIVE_CHEMO   |
      | capecitabine 1000 mg/m2 bid | ACTIVE_CHEMO   |
      | carboplatin AUC5            | ACTIVE_CHEMO   |
      | enoxaparin 1 mg/kg bd       | ANTICOAG_OTHER |
      | heparin 18 units/kg/h       | ANTICOAG_OTHER |

  Scenario: A patch and an insulin dose are nothing to verify
    Given the patient takes fentanyl 25 mcg/h patch, insulin 20 units
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is clear

  Scenario: Xarelto typed with its letters swapped is still a blood thinner
    Given the patient takes xeralto 20 mg, apixaban 5 mg bd
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule MULTI_ANTITHROMBOTIC fires with verdict caution
    And rule MEDICATION_UNRECOGNISED fires with verdict caution
    And the result offers "rivaroxaban" for the medication "xeralto 20 mg"

  Scenario: A limb at risk written as "left arm" is the whole left arm
    Given a limb at risk of lymphoedema written as "L arm"
    And dry needling is planned at the left hand and the right hand
    When the patient is screened
    Then the site at the left hand is caution
    And the site at the right hand is clear

  Scenario: An infection written as "right groin" reaches the hip's neighbours
    Given infection written as "right groin"
    And dry needling is planned at the right thigh and the right foot
    When the patient is screened
    Then the site at the right thigh is refer
    And the site at the right foot is clear

  Scenario: Lymphoedema written as "L UE" is the whole left arm
    Given lymphoedema written as "L UE"
    And dry needling is planned at the left shoulder girdle and the right forearm
    When the patient is screened
    Then the site at the left shoulder girdle is refer
    And the site at the right forearm is clear

  Scenario: A DVT written as "right lower extremity" is the whole right leg
    Given a DVT written as "right lower extremity"
    And dry needling is planned at the right gluteal and the left calf
    When the patient is screened
    Then the site at the right gluteal is refer
    And the site at the left calf is clear

  Scenario: A misspelt letrozole is offered as letrozole, not as a look-alike drug
    Given the patient takes letrazole 2.5 mg
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule MEDICATION_UNRECOGNISED fires with verdict caution
    And the result offers "letrozole" for the medication "letrazole 2.5 mg"
