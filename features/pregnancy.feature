Feature: Pregnancy
  The first trimester defers dry needling by default (a clinic policy setting); later, the abdomen, low back,
  pelvis and traditional points are avoided and the rest is a caution; no current across the pregnant trunk.

  Background:
    Given a patient who answers no to every screening question

  Scenario Outline: 12, 13 and 14 weeks of gestation
    Given the patient is pregnant at <weeks> weeks
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is <verdict>
    And rule <rule> fires with verdict <verdict>
    And rule <other> does not fire

    Examples:
      | weeks | verdict | rule      | other     |
      | 12    | refer   | PREG_T1   | PREG_T2T3 |
      | 13    | caution | PREG_T2T3 | PREG_T1   |
      | 14    | caution | PREG_T2T3 | PREG_T1   |

  Scenario: Pregnant, weeks unknown, counts as the first trimester
    Given the patient is pregnant, weeks not known
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule PREG_T1 fires with verdict refer

  Scenario: A clinic that treats the first trimester as a caution
    Given the patient is pregnant at 8 weeks
    And the clinic policy sets "first_trimester_verdict" to "caution"
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is caution
    And rule PREG_T1 fires with verdict caution
    And the result records the policy "first_trimester_verdict" as "caution"

  Scenario: Possibly pregnant, low back planned
    Given the patient may be pregnant
    And dry needling is planned at the lumbar region
    When the patient is screened
    Then rule PREG_POSSIBLE fires with verdict refer

  Scenario: Possibly pregnant, calf planned
    Given the patient may be pregnant
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule PREG_POSSIBLE does not fire

  Scenario: Second trimester, low back planned
    Given the patient is pregnant at 20 weeks
    And dry needling is planned at the lumbar region and the right thigh
    When the patient is screened
    Then rule PREG_REGIONS fires with verdict refer for the site at the lumbar region
    And rule PREG_REGIONS does not fire for the site at the right thigh

  Scenario: No current across the pregnant abdomen
    Given the patient is pregnant at 20 weeks
    And electrical dry needling is planned between the left abdomen and the right abdomen
    When the patient is screened
    Then rule PREG_ELECTRICAL_TRUNK fires with verdict refer
    And rule PREG_ELECTRICAL_LIMB does not fire

  Scenario: Current on the legs in pregnancy is a caution
    Given the patient is pregnant at 20 weeks
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then rule PREG_ELECTRICAL_LIMB fires with verdict caution
    And rule PREG_ELECTRICAL_TRUNK does not fire

  Scenario: Trying to conceive: no needles over the low back
    Given the patient answers "yes" to "trying to conceive"
    And dry needling is planned at the lumbar region and the right calf
    When the patient is screened
    Then rule PREG_TRYING_TO_CONCEIVE fires with verdict caution for the site at the lumbar region
    And the site at the right calf is clear

  Scenario: GB21 at the top of the shoulder is avoided in pregnancy
    Given the patient is pregnant at 20 weeks
    And dry needling is planned at the right upper trapezius and the right forearm
    When the patient is screened
    Then rule PREG_REGIONS fires with verdict refer for the site at the right upper trapezius
    And the site at the right forearm is caution

  Scenario: Possibly pregnant, electrical needling on the calf is deferred like the first trimester
    Given the patient may be pregnant
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then the verdict is refer
    And rule PREG_POSSIBLE fires with verdict refer for the site at the right calf

  Scenario: Possibly pregnant, a manual needle in the forearm beside a stimulated pair on the calf
    Given the patient may be pregnant
    And electrical dry needling is planned between the right calf and the right ankle
    And a needle that is not stimulated is also planned at the left forearm
    When the patient is screened
    Then the site at the left forearm is clear
    And the site at the right calf is refer

  Scenario: Trying to conceive: electrical needling on the calf is a caution
    Given the patient answers "yes" to "trying to conceive"
    And electrical dry needling is planned between the right calf and the right ankle
    When the patient is screened
    Then the verdict is caution
    And rule PREG_TRYING_TO_CONCEIVE fires with verdict caution for the site at the right calf

  Scenario: A woman of 62 is not asked how many weeks pregnant she is
    Given the patient is 62 years old
    And the patient's pregnancy status is not known
    And dry needling is planned at the lumbar region
    When the patient is screened
    Then the verdict is clear
    And rule PREG_T2T3 does not fire
