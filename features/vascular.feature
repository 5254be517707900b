Feature: Vascular and cardiac
  Varicose veins and poor circulation are cautions at the sites concerned; an acute DVT refers for that limb;
  a heart valve or endocarditis history is a clinic policy setting (refer by default).

  Background:
    Given a patient who answers no to every screening question

  Scenario: Needle away from varicose veins
    Given varicose veins in the right calf
    And dry needling is planned at the right calf and the right thigh
    When the patient is screened
    Then rule VARICOSE_SITE fires with verdict caution for the site at the right calf
    And rule VARICOSE_SITE does not fire for the site at the right thigh

  Scenario: An acute DVT refers for that leg only
    Given an acute DVT in the left lower limb
    And dry needling is planned at the left calf and the right calf
    When the patient is screened
    Then rule DVT_ACUTE fires with verdict refer for the site at the left calf
    And the site at the right calf is clear

  Scenario: Poor circulation at a distal limb site
    Given the patient answers "yes" to "poor circulation"
    And dry needling is planned at the right foot
    When the patient is screened
    Then rule VASCULAR_DISEASE fires with verdict caution for the site at the right foot

  Scenario: Poor circulation does not concern the thigh
    Given the patient answers "yes" to "poor circulation"
    And dry needling is planned at the right thigh
    When the patient is screened
    Then the verdict is clear
    And rule VASCULAR_DISEASE does not fire

  Scenario: A prosthetic heart valve is a caution with strict asepsis by default (the reference's suggestion)
    Given the patient answers "yes" to "heart valve or endocarditis"
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is caution
    And rule HEART_VALVE fires with verdict caution
    And the advice includes "strict asepsis"

  Scenario: A stricter clinic refers a prosthetic heart valve
    Given the patient answers "yes" to "heart valve or endocarditis"
    And the clinic policy sets "heart_valve_verdict" to "refer"
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule HEART_VALVE fires with verdict refer
