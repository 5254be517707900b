Feature: Metabolic, neurological and allergy
  Diabetes, reduced sensation and controlled epilepsy are cautions; uncontrolled seizures refer; a metal
  allergy is a clinic policy setting (caution by default). Controlled diabetes with normal sensation and
  circulation is a caution by default, and a clinic may choose clear for it.

  Background:
    Given a patient who answers no to every screening question

  Scenario: Controlled diabetes is a caution by default (the catalogue's relative precaution)
    Given the patient has controlled diabetes
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is caution
    And rule DIABETES_CONTROLLED fires with verdict caution
    And rule DIABETES does not fire

  Scenario: A clinic may screen controlled diabetes with normal feet clear
    Given the patient has controlled diabetes
    And the clinic policy sets "controlled_diabetes_verdict" to "clear"
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is clear
    And rule DIABETES_CONTROLLED does not fire
    And the result records the policy "controlled_diabetes_verdict" as "clear"

  Scenario: Diabetes with numb feet stays a caution whatever the clinic's setting
    Given the patient has controlled diabetes
    And reduced sensation in both feet
    And the clinic policy sets "controlled_diabetes_verdict" to "clear"
    And dry needling is planned at the right thigh
    When the patient is screened
    Then rule DIABETES fires with verdict caution

  Scenario: Diabetes with poor circulation stays a caution
    Given the patient has controlled diabetes
    And the patient answers "yes" to "poor circulation"
    And dry needling is planned at the right thigh
    When the patient is screened
    Then rule DIABETES fires with verdict caution
    And rule DIABETES_CONTROLLED does not fire

  Scenario: Uncontrolled diabetes is a caution
    Given the patient has uncontrolled diabetes
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule DIABETES fires with verdict caution

  Scenario: Controlled diabetes when nobody asked about numbness
    Given the patient has controlled diabetes
    And the patient answers "unknown" to "reduced sensation"
    And the clinic policy sets "controlled_diabetes_verdict" to "clear"
    And dry needling is planned at the right thigh
    When the patient is screened
    Then the verdict is caution
    And rule DIABETES cannot decide and gives caution

  Scenario: No diabetes
    Given the patient has no diabetes
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule DIABETES does not fire

  Scenario: Reduced sensation concerns only the sites where it is
    Given reduced sensation in the right foot
    And dry needling is planned at the right foot and the right thigh
    When the patient is screened
    Then rule IMPAIRED_SENSATION fires with verdict caution for the site at the right foot
    And rule IMPAIRED_SENSATION does not fire for the site at the right thigh

  Scenario: Controlled epilepsy
    Given the patient has controlled epilepsy
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule EPILEPSY_CONTROLLED fires with verdict caution
    And rule EPILEPSY_UNCONTROLLED does not fire

  Scenario: Uncontrolled epilepsy
    Given the patient has uncontrolled epilepsy
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule EPILEPSY_UNCONTROLLED fires with verdict refer
    And rule EPILEPSY_CONTROLLED does not fire

  Scenario: A metal allergy is a caution with nickel-free needles by default (the reference's suggestion)
    Given the patient answers "yes" to "metal allergy"
    And dry needling is planned at the right calf
    When the patient is screened
    Then the verdict is caution
    And rule METAL_ALLERGY fires with verdict caution
    And the advice includes "nickel-free"

  Scenario: A stricter clinic refers a metal allergy
    Given the patient answers "yes" to "metal allergy"
    And the clinic policy sets "metal_allergy_verdict" to "refer"
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule METAL_ALLERGY fires with verdict refer

  Scenario: No metal allergy
    Given the patient answers "no" to "metal allergy"
    And dry needling is planned at the right calf
    When the patient is screened
    Then rule METAL_ALLERGY does not fire
