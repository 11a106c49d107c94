//! The resource types an access policy rule may name: FHIR R4's (4.0.1) and the ones
//! Medplum adds for its own administration, as Medplum's policies may name them too.

/// Sorted, so that the list offered on the policy form reads in order.
pub const RESOURCE_TYPES: &[&str] = &[
    "AccessPolicy",
    "Account",
    "ActivityDefinition",
    "AdverseEvent",
    "Agent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AsyncJob",
    "AuditEvent",
    "Basic",
    "Binary",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "Bot",
    "BulkDataExport",
    "Bundle",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClientApplication",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "CompartmentDefinition",
    "Composition",
    "ConceptMap",
    "Condition",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "DomainConfiguration",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "GraphDefinition",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "ImplementationGuide",
    "InsurancePlan",
    "Invoice",
    "JsonWebKey",
    "Library",
    "Linkage",
    "List",
    "Location",
    "Login",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationKnowledge",
    "MedicationRequest",
    "MedicationStatement",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductContraindication",
    "MedicinalProductIndication",
    "MedicinalProductIngredient",
    "MedicinalProductInteraction",
    "MedicinalProductManufactured",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect",
    "MessageDefinition",
    "MessageHeader",
    "MolecularSequence",
    "NamingSystem",
    "NutritionOrder",
    "Observation",
    "ObservationDefinition",
    "OperationDefinition",
    "OperationOutcome",
    "Organization",
    "OrganizationAffiliation",
    "Parameters",
    "PasswordChangeRequest",
    "Patient",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Project",
    "ProjectMembership",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "SmartAppLaunch",
    "Specimen",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Subscription",
    "Substance",
    "SubstanceNucleicAcid",
    "SubstancePolymer",
    "SubstanceProtein",
    "SubstanceReferenceInformation",
    "SubstanceSourceMaterial",
    "SubstanceSpecification",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "TerminologyCapabilities",
    "TestReport",
    "TestScript",
    "User",
    "UserConfiguration",
    "UserSecurityRequest",
    "ValueSet",
    "VerificationResult",
    "VisionPrescription",
];

/// The known type spelled `input` (exactly), or the closest known spelling to suggest.
pub fn lookup(input: &str) -> Result<&'static str, Option<&'static str>> {
    if let Ok(i) = RESOURCE_TYPES.binary_search(&input) {
        return Ok(RESOURCE_TYPES[i]);
    }
    // Two edits apart at most: a spelling whose length differs by more cannot be one, and
    // is not measured (measuring costs its length times each name's).
    let lower = input.to_lowercase();
    let len = lower.chars().count();
    let suggestion = RESOURCE_TYPES
        .iter()
        .filter(|t| t.len().abs_diff(len) <= 2)
        .map(|t| (strsim::damerau_levenshtein(&lower, &t.to_lowercase()), *t))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, t)| t);
    Err(suggestion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique_so_lookups_find_every_entry() {
        assert!(RESOURCE_TYPES.windows(2).all(|w| w[0] < w[1]));
        for t in RESOURCE_TYPES {
            assert_eq!(lookup(t), Ok(*t));
        }
    }

    #[test]
    fn a_misspelling_gets_the_nearest_type_and_nonsense_gets_none() {
        assert_eq!(lookup("Patinet"), Err(Some("Patient")));
        assert_eq!(lookup("patient"), Err(Some("Patient")));
        assert_eq!(lookup("Obsrvation"), Err(Some("Observation")));
        assert_eq!(lookup("Spaceship"), Err(None));
    }
}
