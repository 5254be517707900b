Feature: Implanted and worn devices
  A pacemaker or ICD, a stimulator, an implanted pump or a cochlear implant rules out electrical stimulation
  anywhere. A needle at the pocket or along the leads or catheter of any implanted device is a caution: needle
  elsewhere. A device worn on the skin (an insulin pump, a glucose sensor) is not an implant: keep needles and
  electrodes away from its infusion set or sensor, nothing more.

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

  Scenario Outline: A needle at the pocket or along the leads of any implanted device is a caution
    Given the patient has a <device> in the <pocket>
    And dry needling is planned at the <pocket> and the right calf
    When the patient is screened
    Then rule <rule> fires with verdict caution for the site at the <pocket>
    And the advice includes "needle elsewhere"
    And the site at the right calf is clear

    Examples:
      | device                 | pocket                      | rule                  |
      | pacemaker              | left infraclavicular region | CARDIAC_DEVICE_MANUAL |
      | ICD                    | left infraclavicular region | CARDIAC_DEVICE_MANUAL |
      | spinal cord stimulator | left gluteal region         | ACTIVE_IMPLANT_MANUAL |
      | spinal cord stimulator | lumbar region               | ACTIVE_IMPLANT_MANUAL |
      | neurostimulator        | left chest wall             | ACTIVE_IMPLANT_MANUAL |
      | drug pump              | abdomen                     | ACTIVE_IMPLANT_MANUAL |
      | cochlear implant       | left scalp                  | ACTIVE_IMPLANT_MANUAL |
      | port                   | right infraclavicular region | VASCULAR_ACCESS      |
      | PICC line              | left upper arm              | VASCULAR_ACCESS       |
      | breast implant         | left breast                 | BREAST_IMPLANT        |

  Scenario: A spinal cord stimulator's generator in the left buttock, and the left gluteus maximus planned
    Given the patient has a spinal cord stimulator in the left gluteal region
    And dry needling is planned in the left muscle "gluteus maximus"
    When the patient is screened
    Then the verdict is caution
    And rule ACTIVE_IMPLANT_MANUAL fires with verdict caution

  Scenario: A spinal cord stimulator's leads at the lumbar spine, and lumbar multifidus planned
    Given the patient has a spinal cord stimulator in the lumbar region
    And dry needling is planned in the muscle "multifidus L4"
    When the patient is screened
    Then rule ACTIVE_IMPLANT_MANUAL fires with verdict caution

  Scenario: An intrathecal pump in the abdomen: its catheter runs to the low back
    Given the patient has a drug pump in the abdomen
    And dry needling is planned at the abdomen and the lumbar region
    When the patient is screened
    Then rule ACTIVE_IMPLANT_MANUAL fires with verdict caution for the site at the abdomen
    And rule ACTIVE_IMPLANT_MANUAL fires with verdict caution for the site at the lumbar region

  Scenario: Away from the stimulator nothing applies to manual needling
    Given the patient has a spinal cord stimulator in the left gluteal region
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is clear
    And rule ACTIVE_IMPLANT_MANUAL does not fire

  Scenario: A pump whose place is not recorded is undecided wherever it could be
    Given the patient has a drug pump
    And dry needling is planned at the abdomen and the right calf
    When the patient is screened
    Then rule ACTIVE_IMPLANT_MANUAL cannot decide and gives caution
    And rule ACTIVE_IMPLANT_MANUAL does not fire for the site at the right calf

  Scenario: An insulin pump worn on the skin is not an implant
    Given an insulin pump set at the left abdomen
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then the verdict is clear
    And rule ACTIVE_IMPLANT_ES does not fire
    And rule WORN_DEVICE_SITE does not fire

  Scenario: Needles next to a glucose sensor are a caution
    Given a glucose sensor at the left upper arm
    And dry needling is planned at the left upper arm and the left forearm
    When the patient is screened
    Then rule WORN_DEVICE_SITE fires with verdict caution for the site at the left upper arm
    And rule WORN_DEVICE_SITE does not fire for the site at the left forearm

  Scenario: Current next to an insulin pump set is a caution
    Given an insulin pump set at the left abdomen
    And electrical dry needling is planned between the left abdomen and the left lumbar region
    When the patient is screened
    Then rule WORN_DEVICE_SITE fires with verdict caution for the site at the left abdomen
    And rule ACTIVE_IMPLANT_ES does not fire

  Scenario: A pacemaker-dependent patient and electrical needling
    Given the patient has a pacemaker
    And the patient answers "yes" to "depends on the pacemaker"
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then rule PACEMAKER_DEPENDENT_ES fires with verdict refer
    And rule CARDIAC_DEVICE_ES fires with verdict refer

  Scenario: Whether the patient depends on the pacemaker is asked before electrical needling
    Given the patient has a pacemaker
    And the patient answers "unknown" to "depends on the pacemaker"
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then rule PACEMAKER_DEPENDENT_ES cannot decide and gives refer
    And the result asks "depend on the pacemaker"

  Scenario: Current between two needles runs past an insulin pump set
    Given an insulin pump set at the left thigh
    And electrical dry needling is planned between the left calf and the lumbar region
    When the patient is screened
    Then the verdict is caution
    And rule WORN_DEVICE_IN_CURRENT_PATH fires with verdict caution
    And rule WORN_DEVICE_SITE does not fire
    And rule ACTIVE_IMPLANT_ES does not fire

  Scenario: Current along the other leg does not pass the insulin pump set
    Given an insulin pump set at the left thigh
    And electrical dry needling is planned between the right calf and the right foot
    When the patient is screened
    Then the verdict is clear

  Scenario: A port below the right collarbone is near the shoulder, not the abdomen
    Given the patient has a port in the right infraclavicular region
    And dry needling is planned at the right shoulder girdle and the abdomen
    When the patient is screened
    Then rule VASCULAR_ACCESS fires with verdict caution for the site at the right shoulder girdle
    And rule VASCULAR_ACCESS does not fire for the site at the abdomen

  Scenario: An intrathecal pump in the abdomen does not reach the hip or the pelvic floor
    Given the patient has a drug pump in the abdomen
    And dry needling is planned at the right hip and the pelvic region
    When the patient is screened
    Then the verdict is clear

  Scenario: A stimulator generator in the left buttock does not reach the thigh
    Given the patient has a spinal cord stimulator in the left gluteal region
    And dry needling is planned at the left thigh and the left gluteal
    When the patient is screened
    Then rule ACTIVE_IMPLANT_MANUAL fires with verdict caution for the site at the left gluteal
    And rule ACTIVE_IMPLANT_MANUAL does not fire for the site at the left thigh
