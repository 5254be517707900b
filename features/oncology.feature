Feature: Immune system and oncology
  Chemotherapy needs current blood counts; severe neutropenia refers; an immunocompromised patient gets
  infection precautions; a tumour, radiotherapy field or port concerns only the sites near it.

  Background:
    Given a patient who answers no to every screening question

  Scenario Outline: Neutrophils at and around the cut-offs
    Given neutrophils of <anc> x10^9/L, taken 2 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is <verdict>

    Examples:
      | anc  | verdict |
      | 0.49 | refer   |
      | 0.5  | caution |
      | 0.99 | caution |
      | 1.0  | clear   |

  Scenario: Severe neutropenia
    Given neutrophils of 0.3 x10^9/L, taken 2 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule NEUTROPENIA_SEVERE fires with verdict refer
    And rule NEUTROPENIA does not fire

  Scenario: Moderate neutropenia
    Given neutrophils of 0.8 x10^9/L, taken 2 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule NEUTROPENIA fires with verdict caution
    And rule NEUTROPENIA_SEVERE does not fire

  Scenario: An immunosuppressant by brand name
    Given the patient takes Humira
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule IMMUNOSUPPRESSION fires with verdict caution

  Scenario: A drug outside the immune classes
    Given the patient takes letrozole
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is clear
    And rule IMMUNOSUPPRESSION does not fire
    And rule ACTIVE_CHEMO does not fire

  Scenario: Chemotherapy needs a current blood count
    Given the patient answers "yes" to "active chemotherapy"
    And platelets of 250 x10^9/L, taken 2 days ago
    And neutrophils of 3.0 x10^9/L, taken 2 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is caution
    And rule ACTIVE_CHEMO fires with verdict caution
    And rule ACTIVE_CHEMO_COUNTS_STALE does not fire

  Scenario: Counts older than the current cycle during chemotherapy
    Given the patient takes oxaliplatin
    And platelets of 250 x10^9/L, taken 30 days ago
    And neutrophils of 3.0 x10^9/L, taken 30 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule ACTIVE_CHEMO_COUNTS_STALE fires with verdict caution

  Scenario: Cancer history while nobody knows about current treatment
    Given the patient answers "yes" to "cancer history"
    And the patient answers "unknown" to "active chemotherapy"
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule CANCER_HISTORY fires with verdict caution
    And the result asks "chemotherapy"

  Scenario: Cancer history, no current treatment
    Given the patient answers "yes" to "cancer history"
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is clear
    And rule CANCER_HISTORY does not fire

  Scenario: No needle into a tumour, other sites unaffected
    Given a tumour in the left breast
    And dry needling is planned at the left breast and the right calf
    When the patient is screened
    Then rule MALIGNANCY_AT_SITE fires with verdict refer for the site at the left breast
    And rule MALIGNANCY_AT_SITE does not fire for the site at the right calf

  Scenario: Irradiated skin is a caution for manual needling
    Given a radiotherapy field in the left breast
    And dry needling is planned at the left breast and the right breast
    When the patient is screened
    Then rule RADIOTHERAPY_SKIN fires with verdict caution for the site at the left breast
    And rule RADIOTHERAPY_SKIN does not fire for the site at the right breast

  Scenario: A PICC line in the left arm
    Given the patient has a PICC line in the left upper limb
    And dry needling is planned at the left forearm and the right forearm
    When the patient is screened
    Then rule VASCULAR_ACCESS fires with verdict caution for the site at the left forearm
    And rule VASCULAR_ACCESS does not fire for the site at the right forearm

  Scenario: Counts taken before the nadir window do not clear it
    Given the patient is on day 10 of a chemotherapy cycle
    And neutrophils of 3.0 x10^9/L, taken 5 days ago
    And platelets of 250 x10^9/L, taken 5 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule CHEMO_NADIR_COUNTS fires with verdict caution
    And the advice includes "taken inside the nadir window"

  Scenario: Counts taken inside the nadir window
    Given the patient is on day 10 of a chemotherapy cycle
    And neutrophils of 3.0 x10^9/L, taken 2 days ago
    And platelets of 250 x10^9/L, taken 2 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule CHEMO_NADIR_COUNTS does not fire

  Scenario: Early in the cycle, before the nadir
    Given the patient is on day 3 of a chemotherapy cycle
    And neutrophils of 3.0 x10^9/L, taken 2 days ago
    And platelets of 250 x10^9/L, taken 2 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule CHEMO_NADIR_COUNTS does not fire

  Scenario: On chemotherapy, the day of the cycle not known
    Given the patient answers "yes" to "active chemotherapy"
    And neutrophils of 3.0 x10^9/L, taken 2 days ago
    And platelets of 250 x10^9/L, taken 2 days ago
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule CHEMO_NADIR_COUNTS cannot decide and gives caution
    And the result asks "day of the current chemotherapy cycle"
