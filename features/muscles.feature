Feature: Sites given as muscles
  A site may name a muscle instead of a region; it is placed in the region hierarchy, so thorax, limb and
  trunk rules apply to it.

  Background:
    Given a patient who answers no to every screening question

  Scenario: The upper trapezius is a thoracic site
    Given dry needling is planned in the right muscle "Upper  Trapezius"
    When the patient is screened
    Then rule THORAX fires with verdict caution

  Scenario: The gastrocnemius is in the lower limb
    Given lymphoedema in the left lower limb
    And dry needling is planned in the left muscle "gastrocnemius"
    When the patient is screened
    Then rule LYMPHEDEMA_LIMB fires with verdict refer

  Scenario: Multifidus at L4 is in the low back, avoided in pregnancy
    Given the patient is pregnant at 20 weeks
    And dry needling is planned in the muscle "multifidus L4"
    When the patient is screened
    Then rule PREG_REGIONS fires with verdict refer
    And rule THORAX does not fire

  Scenario: A misspelt muscle is rejected with a suggestion
    Given dry needling is planned in the left muscle "gastrocnemus"
    When the patient is screened expecting the intake to be rejected
    Then the intake is rejected at "plan.sites[0].muscle" saying "did you mean 'gastrocnemius'"

  Scenario: Multifidus without a spinal level is rejected
    Given dry needling is planned in the muscle "multifidus"
    When the patient is screened expecting the intake to be rejected
    Then the intake is rejected at "plan.sites[0].muscle" saying "needs a spinal level"
