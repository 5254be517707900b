Feature: The body model: limbs, neighbours, devices, nerves and current paths
  A finding recorded in one part of a limb concerns the whole limb; an infection, wound, tumour, operation,
  radiotherapy field or varicose veins concern the region and the regions next to it; a device concerns where
  it sits and where its leads or catheter run, and wherever it could be when its place is not recorded; the
  current of a lead pair flows through every segment between the needles, and through the trunk when they are
  on different limbs. The model is rules/body.yaml; these are the cases a careful reviewer found screened clear.

  Background:
    Given a patient who answers no to every screening question

  Rule: A lymphoedema, at-risk limb or DVT concerns the whole limb, whatever part of it was recorded

    Scenario: Lymphoedema recorded at the forearm, needles in the hand of the same arm
      Given lymphoedema in the left forearm
      And dry needling is planned at the left hand
      When the patient is screened
      Then the verdict is refer
      And rule LYMPHEDEMA_LIMB fires with verdict refer for the site at the left hand
      And the advice includes "needle the other limb"

    Scenario: Lymphoedema recorded at the forearm, needles in the upper arm and shoulder of the same arm
      Given lymphoedema in the left forearm
      And dry needling is planned at the left upper arm and the left shoulder girdle and the right upper arm
      When the patient is screened
      Then rule LYMPHEDEMA_LIMB fires with verdict refer for the site at the left upper arm
      And rule LYMPHEDEMA_LIMB fires with verdict refer for the site at the left shoulder girdle
      And the site at the right upper arm is clear

    Scenario: A DVT recorded at the calf, needles in the thigh or the foot of that leg
      Given an acute DVT in the left calf
      And dry needling is planned at the left thigh and the left foot and the right thigh
      When the patient is screened
      Then rule DVT_ACUTE fires with verdict refer for the site at the left thigh
      And rule DVT_ACUTE fires with verdict refer for the site at the left foot
      And the site at the right thigh is clear

  Rule: Current through a limb with a DVT is referred, even when the needles avoid the clot's segment

    Scenario: An electrical circuit from the thigh to the foot of a leg with a calf DVT
      Given an acute DVT in the left calf
      And electrical dry needling is planned between the left thigh and the left foot
      When the patient is screened
      Then the verdict is refer
      And rule DVT_IN_CURRENT_PATH fires with verdict refer

    Scenario: A circuit from one foot to the other passes through the leg with the DVT
      Given an acute DVT in the left calf
      And electrical dry needling is planned between the right foot and the left foot
      When the patient is screened
      Then rule DVT_IN_CURRENT_PATH fires with verdict refer

    Scenario: A circuit on the other leg does not pass through the DVT
      Given an acute DVT in the left calf
      And electrical dry needling is planned between the right thigh and the right foot
      When the patient is screened
      Then the verdict is clear
      And rule DVT_IN_CURRENT_PATH does not fire

  Rule: A device concerns where it sits and runs, and wherever it could be when its place is not recorded

    Scenario: A hip replacement and needles in the buttock of that side
      Given the patient has a joint replacement in the right hip
      And dry needling is planned at the right gluteal and the left gluteal
      When the patient is screened
      Then rule PROSTHESIS_SITE fires with verdict caution for the site at the right gluteal
      And the site at the left gluteal is clear

    Scenario: A port or PICC line with no recorded place, and needles in an arm
      Given the patient has a PICC line
      And dry needling is planned at the left forearm
      When the patient is screened
      Then the verdict is caution
      And rule VASCULAR_ACCESS cannot decide and gives caution

    Scenario: A PICC line in the left arm concerns that whole arm, not the other one
      Given the patient has a PICC line in the left upper arm
      And dry needling is planned at the left forearm and the right forearm
      When the patient is screened
      Then rule VASCULAR_ACCESS fires with verdict caution for the site at the left forearm
      And the site at the right forearm is clear

    Scenario: Current through a knee replacement
      Given the patient has a joint replacement in the right knee
      And electrical dry needling is planned between the right thigh and the right foot
      When the patient is screened
      Then rule METAL_IN_CURRENT_PATH fires with verdict caution

  Rule: Findings recorded on a limb need a side; "midline" cannot place them

    Scenario: Lymphoedema of the forearm with side midline is refused
      Given lymphoedema in the midline forearm
      And dry needling is planned at the left hand
      When the patient is screened expecting the intake to be rejected
      Then the intake is rejected at "findings.lymphedema.locations[0].side" saying "give left, right or both"

  Rule: Near means the region and the regions next to it

    Scenario: An infected knee concerns the thigh and the calf, not the foot
      Given infection in the right knee
      And dry needling is planned at the right thigh and the right calf and the right foot
      When the patient is screened
      Then rule LOCAL_SKIN_SITE fires with verdict refer for the site at the right thigh
      And rule LOCAL_SKIN_SITE fires with verdict refer for the site at the right calf
      And the site at the right foot is clear

    Scenario: Spinal instability in the lumbar spine concerns the next levels too
      Given spinal instability in the lumbar region
      And manual dry needling is planned at the midline thoracolumbar junction and the midline posterior neck
      When the patient is screened
      Then rule SPINAL_INSTABILITY fires with verdict refer for the site at the midline thoracolumbar junction
      And rule SPINAL_INSTABILITY does not fire for the site at the midline posterior neck

  Rule: An electrical plan without lead pairs leaves every circuit rule undecided

    Scenario: Sites are given but not which needles are paired
      Given electrical dry needling is planned at the left calf and the right calf, lead pairs not given
      When the patient is screened
      Then the verdict is caution
      And rule ES_TRANSTHORACIC cannot decide and gives caution
      And the result asks "Which needles are paired"

  Rule: Current between two limbs crosses the trunk

    Scenario: Current from one calf to the other in a pregnant patient crosses the pelvis
      Given the patient is pregnant at 20 weeks
      And electrical dry needling is planned between the left calf and the right calf
      When the patient is screened
      Then the verdict is refer
      And rule PREG_CURRENT_THROUGH_TRUNK fires with verdict refer
      And the advice includes "same limb"

    Scenario: Two needles in one calf of a pregnant patient keep the current in the leg
      Given the patient is pregnant at 20 weeks
      And electrical dry needling is planned between the left calf and the left ankle
      When the patient is screened
      Then the verdict is caution
      And rule PREG_CURRENT_THROUGH_TRUNK does not fire

    Scenario: Current from a hand to a foot crosses the chest
      Given electrical dry needling is planned between the left hand and the left foot
      When the patient is screened
      Then rule ES_TRANSTHORACIC fires with verdict refer

  Rule: Perineural electrical needling counts the skin the nerve supplies (Granger 2025, CIPN)

    Scenario: CIPN patient 1: numb feet, electrical stimulation at the tibial and common fibular nerves
      Given the patient answers "yes" to "cancer history"
      And reduced sensation in both feet
      And electrical dry needling is planned between the left tibial nerve and the left common fibular nerve
      When the patient is screened
      Then the verdict is caution
      And rule NERVE_TERRITORY_REDUCED_SENSATION_ES fires with verdict caution for the site at the left tibial nerve
      And rule NERVE_TERRITORY_REDUCED_SENSATION_ES fires with verdict caution for the site at the left common fibular nerve
      And the advice includes "visible motor response"

    Scenario: CIPN patient 2: numb feet, both legs treated, each lead pair on one leg
      Given the patient answers "yes" to "cancer history"
      And reduced sensation in both feet
      And electrical dry needling is planned between the right tibial nerve and the right common fibular nerve
      And electrical dry needling is planned between the left tibial nerve and the left common fibular nerve
      When the patient is screened
      Then the verdict is caution
      And rule NERVE_TERRITORY_REDUCED_SENSATION_ES fires with verdict caution for the site at the right tibial nerve
      And rule ES_TRANSTHORACIC does not fire

    Scenario: CIPN patient 3: numbness in feet and hands, still on chemotherapy
      Given the patient answers "yes" to "active chemotherapy"
      And reduced sensation in both feet
      And reduced sensation in both hands
      And electrical dry needling is planned between the left tibial nerve and the left common fibular nerve
      When the patient is screened
      Then the verdict is caution
      And rule NERVE_TERRITORY_REDUCED_SENSATION_ES fires with verdict caution for the site at the left tibial nerve
      And rule ES_CIPN_ACTIVE_CHEMO fires with verdict caution

    Scenario: A nerve whose skin is not numb
      Given reduced sensation in both hands
      And electrical dry needling is planned between the left tibial nerve and the left common fibular nerve
      When the patient is screened
      Then rule NERVE_TERRITORY_REDUCED_SENSATION_ES does not fire

    Scenario: An unknown nerve is refused with a suggestion
      Given electrical dry needling is planned between the left tibal nerve and the left calf
      When the patient is screened expecting the intake to be rejected
      Then the intake is rejected at "plan.sites[0].nerve" saying "did you mean 'tibial'"
