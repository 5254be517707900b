Feature: Answers that contradict each other
  Two answers that cannot both be true are a reason of their own ("inconsistent answers", caution or worse) that
  names both, and the screening goes on with the answer that carries the risk: a coded diagnosis, a blood
  thinner, a pregnancy. A contradiction never screens clear.

  Background:
    Given a patient who answers no to every screening question
    And dry needling is planned at the right calf

  Scenario: "No medications, list complete", then yes to a blood thinner that needs INR checks, INR above target
    Given the patient answers "yes" to "a blood thinner that needs INR checks"
    And an INR of 4.5 with a target range of 2.0 to 3.0, taken 2 days ago
    When the patient is screened
    Then the verdict is refer
    And rule ANTICOAG_VKA_HIGH fires with verdict refer
    And rule INCONSISTENT_ANSWERS fires with verdict caution
    And the result names the inconsistent answers "medications: none (list complete)" and "medications.vka: yes"

  Scenario: A blood thinner that needs INR checks counts even when the list is incomplete
    Given the medication list is incomplete
    And the patient answers "yes" to "a blood thinner that needs INR checks"
    And an INR of 2.5 with a target range of 2.0 to 3.0, taken 2 days ago
    When the patient is screened
    Then rule ANTICOAG_VKA fires with verdict caution
    And rule INCONSISTENT_ANSWERS does not fire

  Scenario: Warfarin on the list, but "no" to a blood thinner that needs INR checks
    Given the patient takes warfarin
    And the patient answers "no" to "a blood thinner that needs INR checks"
    And an INR of 2.5 with a target range of 2.0 to 3.0, taken 2 days ago
    When the patient is screened
    Then rule ANTICOAG_VKA fires with verdict caution
    And the result names the inconsistent answers "a vitamin K antagonist is listed" and "medications.vka: no"

  Scenario: Not pregnant, but weeks of gestation given
    Given the patient is not pregnant
    And the record gives 10 weeks of gestation
    When the patient is screened
    Then the verdict is caution
    And rule INCONSISTENT_ANSWERS fires with verdict caution
    And the result names the inconsistent answers "not_pregnant" and "gestational_weeks: 10"
    And rule PREG_T1 cannot decide and gives caution

  Scenario: No implanted devices answered, but a pacemaker coded
    Given electrical dry needling is planned between the right calf and the right ankle
    And the patient's record has the ICD-10-CM code Z95.0
    When the patient is screened
    Then rule CARDIAC_DEVICE_ES fires with verdict refer
    And the result names the inconsistent answers "devices.answer: no" and "ICD-10-CM Z95.0"

  Scenario: No DVT answered, but a right leg DVT coded
    Given the patient's record has the ICD-10-CM code I82.401
    When the patient is screened
    Then rule DVT_ACUTE fires with verdict refer for the site at the right calf
    And the result names the inconsistent answers "findings.dvt: no" and "ICD-10-CM I82.401"

  Scenario: No medications on a complete list, but long-term aspirin coded
    Given the patient's record has the ICD-10-CM code Z79.82
    When the patient is screened
    Then rule ANTIPLATELET fires with verdict caution
    And the result names the inconsistent answers "medications: none (list complete)" and "ICD-10-CM Z79.82"

  Scenario: A code that agrees with the answer is no contradiction
    Given an acute DVT in the left calf
    And the patient's record has the ICD-10-CM code I82.411
    When the patient is screened
    Then rule DVT_ACUTE fires with verdict refer for the site at the right calf
    And rule INCONSISTENT_ANSWERS does not fire

  Scenario: Weeks of gestation with the pregnancy status not known are no contradiction, and still asked about
    Given the patient's pregnancy status is not known
    And the record gives 10 weeks of gestation
    When the patient is screened
    Then rule INCONSISTENT_ANSWERS does not fire
    And rule PREG_T1 cannot decide and gives caution
