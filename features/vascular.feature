Feature: Vascular and cardiac
  Varicose veins and poor circulation are cautions at the sites concerned (the limb with poor circulation, or
  every hand and foot when the limb is not recorded); a recent DVT refers for that limb, a DVT resolved long
  ago is a caution; an inflamed superficial vein refers its site, the segments next to it and any current
  along it; a heart valve or endocarditis history is a clinic policy setting (caution by default).

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

  Scenario Outline: A DVT diagnosed recently refers the limb, one diagnosed long ago is a caution
    Given a DVT in the <limb>, <weeks> weeks ago
    And dry needling is planned at the <site> and the <other site>
    When the patient is screened
    Then rule <rule> fires with verdict <verdict> for the site at the <site>
    And the site at the <other site> is clear

    Examples:
      | limb              | weeks | site           | other site      | rule      | verdict |
      | left lower limb   | 4     | left calf      | right calf      | DVT_ACUTE | refer   |
      | right lower limb  | 25    | right thigh    | left thigh      | DVT_ACUTE | refer   |
      | left upper limb   | 8     | left forearm   | right forearm   | DVT_ACUTE | refer   |
      | right upper limb  | 20    | right upper arm | left upper arm | DVT_ACUTE | refer   |
      | left lower limb   | 26    | left calf      | right calf      | DVT_PAST  | caution |
      | right lower limb  | 260   | right foot     | left foot       | DVT_PAST  | caution |
      | left upper limb   | 52    | left hand      | right hand      | DVT_PAST  | caution |
      | right upper limb  | 400   | right forearm  | left forearm    | DVT_PAST  | caution |

  Scenario: A DVT whose date is not known is treated as recent
    Given a DVT in the left lower limb
    And dry needling is planned at the left calf
    When the patient is screened
    Then rule DVT_ACUTE fires with verdict refer
    And rule DVT_PAST does not fire

  Scenario: A DVT five years ago, resolved and off anticoagulants, is a caution for that leg
    Given a past DVT in the right lower limb
    And dry needling is planned at the right calf and the left calf
    When the patient is screened
    Then the verdict is caution
    And rule DVT_PAST fires with verdict caution for the site at the right calf
    And rule DVT_ACUTE does not fire
    And the site at the left calf is clear

  Scenario: A clinic that counts a DVT as recent for a year
    Given a DVT in the left lower limb, 40 weeks ago
    And the clinic policy sets "dvt_recent_weeks" to "52"
    And dry needling is planned at the left calf
    When the patient is screened
    Then rule DVT_ACUTE fires with verdict refer

  Scenario: Current through a leg with a past DVT: a caution at its needles, not a referral
    Given a DVT in the left lower limb, 104 weeks ago
    And electrical dry needling is planned between the left thigh and the left foot
    When the patient is screened
    Then rule DVT_IN_CURRENT_PATH does not fire
    And rule DVT_PAST fires with verdict caution for the site at the left thigh

  Scenario: Current through a leg with a recent DVT is referred
    Given a DVT in the left lower limb, 6 weeks ago
    And electrical dry needling is planned between the left thigh and the left foot
    When the patient is screened
    Then rule DVT_IN_CURRENT_PATH fires with verdict refer

  Scenario: An inflamed superficial vein refers its site and the segments next to it
    Given superficial thrombophlebitis in the right calf
    And dry needling is planned at the right calf and the right knee and the right thigh
    When the patient is screened
    Then rule THROMBOPHLEBITIS_SITE fires with verdict refer for the site at the right calf
    And rule THROMBOPHLEBITIS_SITE fires with verdict refer for the site at the right knee
    And rule THROMBOPHLEBITIS_SITE does not fire for the site at the right thigh

  Scenario: No current along an inflamed superficial vein
    Given superficial thrombophlebitis in the right calf
    And electrical dry needling is planned between the right thigh and the right foot
    When the patient is screened
    Then rule THROMBOPHLEBITIS_IN_CURRENT_PATH fires with verdict refer
    And rule THROMBOPHLEBITIS_SITE does not fire for the site at the right thigh

  Scenario: An inflamed vein in the other leg does not concern this one
    Given superficial thrombophlebitis in the left calf
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is clear

  Scenario: Poor circulation in the left leg concerns the left foot, not the right
    Given the patient has poor circulation in the left lower limb
    And dry needling is planned at the left foot and the right foot
    When the patient is screened
    Then rule VASCULAR_DISEASE fires with verdict caution for the site at the left foot
    And rule VASCULAR_DISEASE does not fire for the site at the right foot
    And the site at the right foot is clear
