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

  Scenario: A spinal cord stimulator blocks electrical needling
    Given the patient has a spinal cord stimulator
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then rule ACTIVE_IMPLANT_ES fires with verdict refer

  Scenario: A spinal cord stimulator does not block manual needling
    Given the patient has a spinal cord stimulator
    And manual dry needling is planned at the right calf
    When the patient is screened
    Then rule ACTIVE_IMPLANT_ES does not fire

  Scenario: Current next to a knee replacement
    Given the patient has a joint replacement in the right knee
    And electrical dry needling is planned between the right hip and the right knee
    When the patient is screened
    Then rule METAL_IMPLANT_ES fires with verdict caution for the site at the right knee
    And rule METAL_IMPLANT_ES does not fire for the site at the right hip

  Scenario: Manual needling next to a knee replacement
    Given the patient has a joint replacement in the right knee
    And manual dry needling is planned at the right knee and the left knee
    When the patient is screened
    Then rule PROSTHESIS_SITE fires with verdict caution for the site at the right knee
    And rule PROSTHESIS_SITE does not fire for the site at the left knee

  Scenario: Needling over a breast implant
    Given the patient has a breast implant in the breast
    And manual dry needling is planned at the left breast and the left interscapular region
    When the patient is screened
    Then rule BREAST_IMPLANT fires with verdict caution for the site at the left breast
    And rule BREAST_IMPLANT does not fire for the site at the left interscapular region

  Scenario Outline: Surgery at the site, recent or remote
    Given recent surgery in the right knee, <weeks> weeks ago
    And manual dry needling is planned at the right knee
    When the patient is screened
    Then rule <rule> fires with verdict <verdict>
    And rule <other> does not fire

    Examples:
      | weeks | rule                       | verdict | other                      |
      | 11    | RECENT_SURGERY_SITE        | refer   | RECENT_SURGERY_SITE_HEALED |
      | 12    | RECENT_SURGERY_SITE_HEALED | caution | RECENT_SURGERY_SITE        |

  Scenario: Surgery elsewhere does not concern the site
    Given recent surgery in the left knee, 4 weeks ago
    And manual dry needling is planned at the right knee
    When the patient is screened
    Then rule RECENT_SURGERY_SITE does not fire
