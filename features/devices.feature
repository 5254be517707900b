Feature: Implanted cardiac devices
  A pacemaker or ICD rules out electrical stimulation anywhere; manual needling is only a caution over the
  device pocket and leads.

  Background:
    Given a patient who answers no to every screening question

  Scenario: A pacemaker blocks electrical needling of the legs
    Given the patient has a pacemaker
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then the verdict is refer
    And rule CARDIAC_DEVICE_ES fires with verdict refer
    And the advice includes "no electrical stimulation"

  Scenario: A pacemaker does not block manual needling away from the device
    Given the patient has a pacemaker
    And manual dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is clear
    And rule CARDIAC_DEVICE_ES does not fire
    And rule CARDIAC_DEVICE_MANUAL does not fire

  Scenario: Manual needling over the device pocket is a caution
    Given the patient has an ICD in the left infraclavicular region
    And manual dry needling is planned at the left infraclavicular region
    When the patient is screened
    Then rule CARDIAC_DEVICE_MANUAL fires with verdict caution for the site at the left infraclavicular region

  Scenario: The usual pocket is assumed when the device location is not recorded
    Given the patient has a pacemaker
    And manual dry needling is planned at the right infraclavicular region
    When the patient is screened
    Then rule CARDIAC_DEVICE_MANUAL cannot decide and gives caution

  Scenario: Electrical needling when nobody has asked about implanted devices
    Given the patient answers "unknown" to "implanted devices"
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then the verdict is refer
    And rule CARDIAC_DEVICE_ES cannot decide and gives refer
    And the result asks "pacemaker"
