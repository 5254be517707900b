Feature: Sites given as muscles, abbreviations and everyday words
  A site may name the muscle (or write it the way physiotherapists do: "UT", "L gastroc", "glute med") instead
  of a region, or as well as one. The name places the site where a needle there goes, so thorax, limb and trunk
  rules apply to it. A name and a region that disagree are never settled by a silent choice: the intake is
  returned to be corrected. A misspelt name is never guessed; it is returned with suggestions from the same
  part of the body.

  Background:
    Given a patient who answers no to every screening question

  Scenario: The upper trapezius is a thoracic site
    Given dry needling is planned in the right muscle "Upper  Trapezius"
    When the patient is screened
    Then rule THORAX fires with verdict caution

  Scenario: "UT" needled in a patient with lung disease gets the thorax precautions
    Given the patient answers "yes" to "lung disease"
    And dry needling is planned in the right muscle "UT"
    When the patient is screened
    Then rule THORAX fires with verdict caution for the site at the right upper trapezius
    And rule PTX_RISK_FACTORS fires with verdict caution

  Scenario: "right UT" takes its side from the name
    Given dry needling is planned in the muscle "right UT"
    When the patient is screened
    Then rule THORAX fires for the site at the right upper trapezius

  Scenario: The gastrocnemius is in the lower limb
    Given lymphoedema in the left lower limb
    And dry needling is planned in the left muscle "gastrocnemius"
    When the patient is screened
    Then rule LYMPHEDEMA_LIMB fires with verdict refer

  Scenario: "L gastroc" with left-leg lymphoedema is referred
    Given lymphoedema in the left lower limb
    And dry needling is planned in the muscle "L gastroc"
    When the patient is screened
    Then the verdict is refer
    And rule LYMPHEDEMA_LIMB fires with verdict refer for the site at the left calf

  Scenario: "R gastroc" is not in the left leg
    Given lymphoedema in the left lower limb
    And dry needling is planned in the muscle "R gastroc"
    When the patient is screened
    Then rule LYMPHEDEMA_LIMB does not fire

  Scenario: A side in the name that contradicts the site's side is returned
    Given dry needling is planned in the right muscle "L gastroc"
    When the patient is screened expecting the intake to be rejected
    Then the intake is rejected at "plan.sites[0].side" saying "says left"

  Scenario: A region that disagrees with the muscle is returned, naming both
    Given dry needling is planned in the muscle "upper trapezius" with the region given as the right calf
    When the patient is screened expecting the intake to be rejected
    Then the intake is rejected at "plan.sites[0].region" saying "upper trapezius"
    And the intake is rejected at "plan.sites[0].muscle" saying "disagrees"

  Scenario: A whole limb as the region takes the muscle's place within it
    Given lymphoedema in the left lower limb
    And dry needling is planned in the muscle "gastrocnemius" with the region given as the left lower limb
    When the patient is screened
    Then rule LYMPHEDEMA_LIMB fires with verdict refer for the site at the left calf

  Scenario Outline: Muscles over the lung fields are thoracic sites
    Given dry needling is planned in the left muscle "<muscle>"
    When the patient is screened
    Then rule THORAX fires with verdict caution

    Examples:
      | muscle                      |
      | sternalis                   |
      | subclavius                  |
      | pec minor                   |
      | serratus anterior           |
      | intercostals                |
      | serratus posterior superior |
      | rhomboids                   |
      | lev scap                    |
      | iliocostalis thoracis       |
      | multifidus T6               |
      | anterior scalene            |

  Scenario Outline: Muscles away from the lung fields are not thoracic sites
    Given dry needling is planned in the left muscle "<muscle>"
    When the patient is screened
    Then rule THORAX does not fire

    Examples:
      | muscle          |
      | glute med       |
      | ECRB            |
      | VMO             |
      | tib ant         |
      | FDI             |
      | masseter        |
      | deltoid         |
      | rectus abdominis |

  Scenario: Multifidus at L4 is in the low back, avoided in pregnancy
    Given the patient is pregnant at 20 weeks
    And dry needling is planned in the muscle "multifidus L4"
    When the patient is screened
    Then rule PREG_REGIONS fires with verdict refer
    And rule THORAX does not fire

  Scenario Outline: The low back and pelvis, however they are written, are avoided in pregnancy
    Given the patient is pregnant at 20 weeks
    And dry needling is planned in the muscle "<name>"
    When the patient is screened
    Then rule PREG_REGIONS fires with verdict refer

    Examples:
      | name              |
      | lumbar multifidus |
      | low back          |
      | QL                |
      | pelvic floor      |
      | rectus abdominis  |

  Scenario: A misspelt muscle is rejected with a suggestion
    Given dry needling is planned in the left muscle "gastrocnemus"
    When the patient is screened expecting the intake to be rejected
    Then the intake is rejected at "plan.sites[0].muscle" saying "did you mean 'gastrocnemius'"

  Scenario: A misspelling is answered from the same part of the body
    Given dry needling is planned in the left muscle "suprasinatus"
    When the patient is screened expecting the intake to be rejected
    Then the intake is rejected at "plan.sites[0].muscle" saying "did you mean 'supraspinatus'?"

  Scenario: Multifidus without a spinal level is rejected
    Given dry needling is planned in the muscle "multifidus"
    When the patient is screened expecting the intake to be rejected
    Then the intake is rejected at "plan.sites[0].muscle" saying "needs a spinal level"

  Scenario: "Neck" is not one place
    Given dry needling is planned in the muscle "neck"
    When the patient is screened expecting the intake to be rejected
    Then the intake is rejected at "plan.sites[0].muscle" saying "anterior_neck"

  Scenario: The iliotibial band is not a muscle
    Given dry needling is planned in the right muscle "ITB"
    When the patient is screened expecting the intake to be rejected
    Then the intake is rejected at "plan.sites[0].muscle" saying "not a muscle"
