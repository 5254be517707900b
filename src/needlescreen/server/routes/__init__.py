"""One router per area of the API: screenings, rules, schema, questionnaire, health."""
