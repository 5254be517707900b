"""FHIR R4 and CDS Hooks for needlescreen (the optional extra ``needlescreen[fhir]``)."""
