Feature: Bleeding and anticoagulation
  Anticoagulants and antiplatelets are precautions, not contraindications, while the INR is in range; an INR
  above the target, triple therapy, a severe bleeding disorder or very low platelets refer. A drug nobody
  recognises is reported, never dropped.

  Background:
    Given a patient who answers no to every screening question
    And dry needling is planned at the right calf

  Scenario: A severe bleeding disorder needs haematology clearance
    Given the patient has a severe bleeding disorder
    When the patient is screened
    Then rule BLEED_DISORDER_SEVERE fires with verdict refer
    And rule BLEED_DISORDER_MILD does not fire

  Scenario: A mild bleeding tendency is a caution
    Given the patient has a mild bleeding disorder
    When the patient is screened
    Then rule BLEED_DISORDER_MILD fires with verdict caution
    And rule BLEED_DISORDER_SEVERE does not fire

  Scenario Outline: The INR at, above and below the target range
    Given the patient takes warfarin
    And an INR of <inr> with a target range of 2.0 to 3.0, taken 3 days ago
    When the patient is screened
    Then the verdict is <verdict>
    And rule ANTICOAG_VKA fires with verdict caution
    And rule <decisive> <outcome>

    Examples:
      | inr | verdict | decisive          | outcome   |
      | 1.9 | caution | ANTICOAG_VKA_HIGH | does not fire |
      | 3.0 | caution | ANTICOAG_VKA_HIGH | does not fire |
      | 3.1 | refer   | ANTICOAG_VKA_HIGH | fires     |

  Scenario: With no recorded target range the INR is compared with 3.5
    Given the patient takes Coumadin
    And an INR of 3.6 with no recorded target range, taken 3 days ago
    When the patient is screened
    Then rule ANTICOAG_VKA_HIGH fires with verdict refer

  Scenario Outline: An INR older than four weeks is not recent
    Given the patient takes warfarin
    And an INR of 2.5 with a target range of 2.0 to 3.0, taken <days> days ago
    When the patient is screened
    Then rule ANTICOAG_LAB_MISSING <outcome>

    Examples:
      | days | outcome       |
      | 28   | does not fire |
      | 29   | fires         |

  Scenario: Paracetamol is not a blood thinner
    Given the patient takes paracetamol
    When the patient is screened
    Then the verdict is clear
    And rule ANTICOAG_OTHER does not fire
    And rule ANTIPLATELET does not fire
    And rule ANTICOAG_STATUS_UNKNOWN does not fire

  Scenario: A direct oral anticoagulant by brand name
    Given the patient takes Eliquis
    When the patient is screened
    Then rule ANTICOAG_OTHER fires with verdict caution
    And rule ANTICOAG_VKA does not fire

  Scenario: A low-molecular-weight heparin by brand name
    Given the patient takes Lovenox
    When the patient is screened
    Then rule ANTICOAG_OTHER fires with verdict caution

  Scenario: A single antiplatelet
    Given the patient takes Plavix
    When the patient is screened
    Then rule ANTIPLATELET fires with verdict caution
    And rule MULTI_ANTITHROMBOTIC does not fire

  Scenario: An antiplatelet with an NSAID
    Given the patient takes aspirin and ibuprofen
    When the patient is screened
    Then rule MULTI_ANTITHROMBOTIC fires with verdict caution
    And rule MULTI_ANTITHROMBOTIC_TRIPLE does not fire

  Scenario: Triple antithrombotic therapy
    Given the patient takes aspirin, Brilinta and Xarelto
    When the patient is screened
    Then rule MULTI_ANTITHROMBOTIC_TRIPLE fires with verdict refer

  Scenario: An incomplete medication list
    Given the medication list is incomplete
    When the patient is screened
    Then rule ANTICOAG_STATUS_UNKNOWN fires with verdict caution

  Scenario: A drug nobody recognises is reported, not dropped
    Given the patient takes zyxoplan
    When the patient is screened
    Then the verdict is caution
    And rule MEDICATION_UNRECOGNISED fires with verdict caution
    And the result names the unrecognised medication "zyxoplan"

  Scenario: An unrecognised drug is one reason, not every medication class as missing
    Given the patient takes zyxoplan
    When the patient is screened
    Then rule MEDICATION_UNRECOGNISED fires with verdict caution
    And rule ANTICOAG_VKA does not fire
    And rule ANTICOAG_OTHER does not fire
    And rule ANTIPLATELET does not fire
    And rule IMMUNOSUPPRESSION does not fire
    And rule ACTIVE_CHEMO does not fire

  Scenario: A dose written with the name does not hide warfarin
    Given the patient takes warfarin 5 mg
    And an INR of 4.1 with no recorded target range, taken 2 days ago
    When the patient is screened
    Then the verdict is refer
    And rule ANTICOAG_VKA_HIGH fires with verdict refer
    And rule MEDICATION_UNRECOGNISED does not fire

  Scenario: A misspelt anticoagulant is read as one, and verified
    Given the patient takes warfrin
    And an INR of 4.1 with no recorded target range, taken 2 days ago
    When the patient is screened
    Then rule ANTICOAG_VKA_HIGH fires with verdict refer
    And rule MEDICATION_UNRECOGNISED fires with verdict caution
    And the result names the unrecognised medication "warfrin"

  Scenario: A gel is not a systemic NSAID
    Given the patient takes Eliquis 5mg and diclofenac gel
    When the patient is screened
    Then rule ANTICOAG_OTHER fires with verdict caution
    And rule MULTI_ANTITHROMBOTIC does not fire
    And rule MEDICATION_UNRECOGNISED does not fire

  Scenario: An SNRI with an anticoagulant is a combination, like an SSRI
    Given the patient takes apixaban 5 mg bid and Cymbalta 60mg
    When the patient is screened
    Then rule MULTI_ANTITHROMBOTIC fires with verdict caution

  Scenario: A chemotherapy regimen by name
    Given the patient takes FOLFOX
    When the patient is screened
    Then rule ACTIVE_CHEMO fires with verdict caution
    And rule MEDICATION_UNRECOGNISED does not fire

  Scenario: A drug recognised by its ATC code alone
    Given the patient takes Pradaxa (B01AE07)
    When the patient is screened
    Then rule MEDICATION_UNRECOGNISED does not fire
    And rule ANTICOAG_OTHER fires

  Scenario: A deep site that pressure cannot reach, on an anticoagulant
    Given the patient takes Xarelto
    And dry needling is planned at the iliopsoas
    When the patient is screened
    Then rule DEEP_NONCOMPRESSIBLE_SITE fires with verdict caution for the site at the iliopsoas
    And rule DEEP_NONCOMPRESSIBLE_SITE does not fire for the site at the right calf

  Scenario Outline: Platelets at 49, 50 and 51
    Given platelets of <platelets> x10^9/L, taken 2 days ago
    When the patient is screened
    Then the verdict is <verdict>
    And rule <rule> fires with verdict <verdict>
    And rule <other> does not fire

    Examples:
      | platelets | verdict | rule                    | other                   |
      | 49        | refer   | THROMBOCYTOPENIA_SEVERE | THROMBOCYTOPENIA        |
      | 50        | caution | THROMBOCYTOPENIA        | THROMBOCYTOPENIA_SEVERE |
      | 51        | caution | THROMBOCYTOPENIA        | THROMBOCYTOPENIA_SEVERE |

  Scenario: Platelets of 100 are not low
    Given platelets of 100 x10^9/L, taken 2 days ago
    When the patient is screened
    Then the verdict is clear
    And rule THROMBOCYTOPENIA does not fire

  Scenario: No platelet count during chemotherapy
    Given the patient answers "yes" to "active chemotherapy"
    When the patient is screened
    Then rule THROMBOCYTOPENIA_SEVERE cannot decide and gives caution
    And the result asks "platelet count"

  Scenario: An INR of 6.0 with no anticoagulant listed is referred
    Given an INR of 6.0 with no recorded target range, taken 2 days ago
    When the patient is screened
    Then the verdict is refer
    And rule INR_UNEXPLAINED fires with verdict refer

  Scenario Outline: A raised INR without an anticoagulant is referred above 1.5
    Given an INR of <inr> with no recorded target range, taken 2 days ago
    When the patient is screened
    Then the verdict is <verdict>
    And rule INR_UNEXPLAINED <outcome>

    Examples:
      | inr | verdict | outcome                       |
      | 1.1 | clear   | does not fire                 |
      | 1.5 | clear   | does not fire                 |
      | 1.6 | refer   | fires with verdict refer      |

  Scenario: An incomplete medication list does not explain a raised INR
    Given the medication list is incomplete
    And an INR of 2.8 with no recorded target range, taken 2 days ago
    When the patient is screened
    Then rule INR_UNEXPLAINED fires with verdict refer

  Scenario: A medication list nobody checked does not explain a raised INR either
    Given the patient answers "unknown" to "complete medication list"
    And an INR of 2.8 with no recorded target range, taken 2 days ago
    When the patient is screened
    Then rule INR_UNEXPLAINED fires with verdict refer

  Scenario Outline: An anticoagulant on the list explains the INR; its own rules decide
    Given the patient takes <drug>
    And an INR of 2.5 with a target range of 2.0 to 3.0, taken 3 days ago
    When the patient is screened
    Then rule INR_UNEXPLAINED does not fire
    And rule <rule> fires with verdict caution

    Examples:
      | drug        | rule           |
      | warfarin    | ANTICOAG_VKA   |
      | apixaban    | ANTICOAG_OTHER |
      | enoxaparin  | ANTICOAG_OTHER |

  Scenario: The clinic sets the INR above which an unexplained INR refers
    Given the clinic policy sets "inr_unexplained_above" to "2.0"
    And an INR of 1.8 with no recorded target range, taken 2 days ago
    When the patient is screened
    Then rule INR_UNEXPLAINED does not fire
    And the result records the policy "inr_unexplained_above" as "2.0"

  Scenario: Bruising or bleeding easily is a caution
    Given the patient answers "yes" to "bruising or bleeding easily"
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is caution
    And rule BLEEDING_HISTORY fires with verdict caution

  Scenario: On warfarin with no INR, the bleeding question must be answered
    Given the patient takes warfarin
    And the patient answers "unknown" to "bruising or bleeding easily"
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule BLEEDING_HISTORY cannot decide and gives caution
    And the result asks "bruise or bleed easily"

  Scenario: With no blood thinner an unasked bleeding question is not a reason of its own
    Given the patient answers "unknown" to "bruising or bleeding easily"
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is clear
    And rule BLEEDING_HISTORY does not fire

  Scenario: An INR of 4.0 on apixaban is not explained by the drug
    Given the patient takes apixaban
    And an INR of 4.0 with no recorded target range, taken 2 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is refer
    And rule INR_HIGH_ON_NON_VKA fires with verdict refer

  Scenario: A slightly raised INR on rivaroxaban is expected
    Given the patient takes rivaroxaban
    And an INR of 1.8 with no recorded target range, taken 2 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule INR_HIGH_ON_NON_VKA does not fire
    And rule INR_UNEXPLAINED does not fire
    And rule ANTICOAG_OTHER fires with verdict caution
