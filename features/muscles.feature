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
