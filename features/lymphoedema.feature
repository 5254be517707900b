Feature: Lymphoedema
  A limb with lymphoedema is not needled (infection and cellulitis risk); other limbs and regions are not
  affected by this rule. A limb at risk of lymphoedema (nodes removed or irradiated) is a clinic policy
  setting: refer for that limb by default.

  Background:
    Given a patient who answers no to every screening question

  Scenario: Needles in the lymphoedematous arm are referred
    Given lymphoedema in the left upper limb
    And dry needling is planned at the left forearm
    When the patient is screened
    Then the verdict is refer
    And rule LYMPHEDEMA_LIMB fires with verdict refer for the site at the left forearm
    And the advice includes "needle the other limb"

  Scenario: Lymphoedema of the left arm does not concern needles in the right calf
    Given lymphoedema in the left upper limb
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is clear
    And rule LYMPHEDEMA_LIMB does not fire

  Scenario: Only the affected limb is referred when both arms are planned
    Given lymphoedema in the left upper limb
    And dry needling is planned at the left upper arm and the right upper arm
    When the patient is screened
    Then the site at the left upper arm is refer
    And the site at the right upper arm is clear

  Scenario: The shoulder girdle belongs to the lymphoedematous limb
    Given lymphoedema in the right upper limb
    And dry needling is planned at the right shoulder girdle
    When the patient is screened
    Then rule LYMPHEDEMA_LIMB fires for the site at the right shoulder girdle

  Scenario: Lymphoedema on an unknown side cannot be ruled out for either arm
    Given lymphoedema in the upper limb
    And dry needling is planned at the left forearm
    When the patient is screened
    Then rule LYMPHEDEMA_LIMB cannot decide and gives caution
    And the result asks "which limb"

  Scenario: Nobody asked about lymphoedema
    Given the patient answers "unknown" to "lymphoedema"
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is caution
    And rule LYMPHEDEMA_LIMB cannot decide and gives caution

  Scenario: The limb at risk after node dissection is a caution by default (the reference's suggestion)
    Given a limb at risk of lymphoedema in the left upper limb
    And dry needling is planned at the left forearm
    When the patient is screened
    Then rule LYMPHEDEMA_AT_RISK fires with verdict caution for the site at the left forearm
    And the advice includes "Prefer the other limb"

  Scenario: A stricter clinic refers the limb at risk
    Given a limb at risk of lymphoedema in the left upper limb
    And the clinic policy sets "at_risk_limb_verdict" to "refer"
    And dry needling is planned at the left forearm
    When the patient is screened
    Then rule LYMPHEDEMA_AT_RISK fires with verdict refer for the site at the left forearm

  Scenario: The other arm of a patient with an at-risk limb is clear
    Given a limb at risk of lymphoedema in the left upper limb
    And dry needling is planned at the right forearm
    When the patient is screened
    Then the verdict is clear
    And rule LYMPHEDEMA_AT_RISK does not fire

  Scenario: A clinic that treats the at-risk limb as a caution
    Given a limb at risk of lymphoedema in the left upper limb
    And the clinic policy sets "at_risk_limb_verdict" to "caution"
    And dry needling is planned at the left forearm
    When the patient is screened
    Then the verdict is caution
    And rule LYMPHEDEMA_AT_RISK fires with verdict caution
    And the result records the policy "at_risk_limb_verdict" as "caution"

  Scenario: The chest wall next to the lymphoedematous arm
    Given lymphoedema in the left upper limb
    And dry needling is planned at the left chest wall and the right chest wall
    When the patient is screened
    Then rule LYMPHEDEMA_ADJACENT fires with verdict caution for the site at the left chest wall
    And rule LYMPHEDEMA_ADJACENT does not fire for the site at the right chest wall
    And rule LYMPHEDEMA_LIMB does not fire

  Scenario: The low back is not next to an arm
    Given lymphoedema in the left upper limb
    And dry needling is planned at the left lumbar region
    When the patient is screened
    Then rule LYMPHEDEMA_ADJACENT does not fire

  Scenario Outline: After node dissection the trunk quadrant draining to that basin is a caution too
    Given a limb at risk of lymphoedema in the <limb>
    And dry needling is planned at the <trunk site> and the <other side>
    When the patient is screened
    Then rule LYMPHEDEMA_AT_RISK_ADJACENT fires with verdict caution for the site at the <trunk site>
    And rule LYMPHEDEMA_AT_RISK_ADJACENT does not fire for the site at the <other side>

    Examples:
      | limb             | trunk site             | other side              |
      | left upper limb  | left upper trapezius   | right upper trapezius   |
      | right upper limb | right chest wall       | left chest wall         |
      | left lower limb  | left lumbar region     | right lumbar region     |
      | right lower limb | right abdomen          | left abdomen            |

  Scenario: Nodes removed from the left armpit, left upper trapezius planned
    Given a limb at risk of lymphoedema in the left axilla
    And dry needling is planned at the left upper trapezius
    When the patient is screened
    Then rule LYMPHEDEMA_AT_RISK_ADJACENT fires with verdict caution
    And rule THORAX fires with verdict caution

  Scenario: An at-risk arm does not concern the lower trunk
    Given a limb at risk of lymphoedema in the left upper limb
    And dry needling is planned at the left lumbar region
    When the patient is screened
    Then rule LYMPHEDEMA_AT_RISK_ADJACENT does not fire

  Scenario: Lymphoedema recorded at the armpit: the chest wall beside it is the trunk quadrant, not the arm
    Given lymphoedema in the left axilla
    And dry needling is planned at the left forearm and the left chest wall and the right forearm
    When the patient is screened
    Then rule LYMPHEDEMA_LIMB fires with verdict refer for the site at the left forearm
    And rule LYMPHEDEMA_LIMB does not fire for the site at the left chest wall
    And rule LYMPHEDEMA_ADJACENT fires with verdict caution for the site at the left chest wall
    And the site at the right forearm is clear
