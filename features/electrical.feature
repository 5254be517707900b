Feature: Electrical dry needling
  Current never crosses the chest, the cervical or thoracic spinal cord, the carotid sinus or the head; it is
  not passed through compromised skin, a tumour or a radiotherapy field. Whether electrical needling during
  chemotherapy is allowed is a clinic policy setting (refer by default).

  Background:
    Given a patient who answers no to every screening question

  Scenario: Left arm to right arm crosses the chest
    Given electrical dry needling is planned between the left forearm and the right forearm
    When the patient is screened
    Then the verdict is refer
    And rule ES_TRANSTHORACIC fires with verdict refer for the site at the left forearm
    And rule ES_TRANSTHORACIC fires with verdict refer for the site at the right forearm

  Scenario: Front of the chest to the back crosses the chest
    Given electrical dry needling is planned between the left chest wall and the left interscapular region
    When the patient is screened
    Then rule ES_TRANSTHORACIC fires with verdict refer

  Scenario: A pair on one arm does not cross the chest
    Given electrical dry needling is planned between the left forearm and the left upper arm
    When the patient is screened
    Then the verdict is clear
    And rule ES_TRANSTHORACIC does not fire

  Scenario: Left and right of the cervical spine
    Given electrical dry needling is planned between the left posterior neck and the right posterior neck
    When the patient is screened
    Then rule ES_ACROSS_SPINE fires with verdict refer

  Scenario: Left and right of the lumbar spine is not over the cord
    Given electrical dry needling is planned between the left lumbar region and the right lumbar region
    When the patient is screened
    Then rule ES_ACROSS_SPINE does not fire
    And rule ES_TRANSTHORACIC does not fire

  Scenario: No current over the carotid sinus
    Given electrical dry needling is planned between the right anterior neck and the right upper trapezius
    When the patient is screened
    Then rule ES_CAROTID fires with verdict refer for the site at the right anterior neck
    And rule ES_CAROTID does not fire for the site at the right upper trapezius

  Scenario: No current on the head
    Given electrical dry needling is planned between the left face and the left posterior neck
    When the patient is screened
    Then rule ES_HEAD fires with verdict refer for the site at the left face
    And rule ES_HEAD does not fire for the site at the left posterior neck

  Scenario: No current through varicose veins, or next to them
    Given varicose veins in the right calf
    And electrical dry needling is planned between the right ankle and the right foot
    When the patient is screened
    Then rule ES_BROKEN_SKIN_OR_INFLAMED fires with verdict refer for the site at the right ankle
    And rule ES_BROKEN_SKIN_OR_INFLAMED does not fire for the site at the right foot

  Scenario: No current through a tumour
    Given a tumour in the right foot
    And electrical dry needling is planned between the right thigh and the right foot
    When the patient is screened
    Then rule ES_MALIGNANCY fires with verdict refer for the site at the right foot
    And rule ES_MALIGNANCY does not fire for the site at the right thigh

  Scenario: No current through a radiotherapy field, manual needling there is a caution
    Given a radiotherapy field in the right calf
    And electrical dry needling is planned between the right calf and the right foot
    When the patient is screened
    Then rule RADIOTHERAPY_SKIN_ES fires with verdict refer for the site at the right calf
    And rule RADIOTHERAPY_SKIN_ES does not fire for the site at the right foot

  Scenario: Electrical needling during chemotherapy is a caution by default (the reference's suggestion)
    Given the patient answers "yes" to "active chemotherapy"
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then rule ES_CIPN_ACTIVE_CHEMO fires with verdict caution

  Scenario: A stricter clinic refers electrical needling during chemotherapy
    Given the patient answers "yes" to "active chemotherapy"
    And the clinic policy sets "edn_during_chemo_verdict" to "refer"
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then rule ES_CIPN_ACTIVE_CHEMO fires with verdict refer
    And the result records the policy "edn_during_chemo_verdict" as "refer"

  Scenario: Manual needling during chemotherapy is not an electrical rule
    Given the patient answers "yes" to "active chemotherapy"
    And manual dry needling is planned at the right calf
    When the patient is screened
    Then rule ES_CIPN_ACTIVE_CHEMO does not fire

  Scenario: No current through a tumour between the needles
    Given a tumour in the left calf
    And electrical dry needling is planned between the left thigh and the left foot
    When the patient is screened
    Then the verdict is refer
    And rule TUMOUR_IN_CURRENT_PATH fires with verdict refer for the site at the left thigh
    And rule ES_MALIGNANCY does not fire

  Scenario: A pair on the other leg does not pass the tumour
    Given a tumour in the left calf
    And electrical dry needling is planned between the right thigh and the right foot
    When the patient is screened
    Then the verdict is clear
