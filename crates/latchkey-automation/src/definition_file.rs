//! A workflow definition as a file: JSON (what the directory stores and Graph's neighbours
//! speak) or YAML (what people write by hand). Both carry the same model; YAML is read into
//! it directly, so a mistake is reported with the YAML's own line and column and the field's
//! path, and then handed to the directory as JSON, which validates it as any definition.

use std::path::Path;

use latchkey_core::error::DirectoryError;
use latchkey_core::workflow::{WorkflowDefinition, refused_definition};

/// Longest definition file read, in bytes (a definition is a few kilobytes).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// How a definition is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// Parses a `--format` value.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "yaml" | "yml" => Some(Self::Yaml),
            _ => None,
        }
    }

    /// The format a file is in: by its extension (`.yaml`, `.yml`, `.json`), else JSON when
    /// its first non-blank character opens an object, else YAML.
    pub fn of(path: Option<&Path>, raw: &str) -> Self {
        match path
            .and_then(Path::extension)
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("yaml" | "yml") => Self::Yaml,
            Some("json") => Self::Json,
            _ if raw.trim_start().starts_with('{') => Self::Json,
            _ => Self::Yaml,
        }
    }
}

/// The definition in `raw` as the JSON the directory's `save_workflow` takes. JSON passes
/// through untouched (the directory parses it); YAML is read into the model, so a field of
/// the wrong type or unknown to it is refused here, naming it and its line.
pub fn to_json(raw: &str, format: Format) -> Result<String, DirectoryError> {
    if raw.len() > MAX_FILE_BYTES {
        return Err(DirectoryError::invalid(
            "workflow",
            format!("is larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    match format {
        Format::Json => Ok(raw.to_owned()),
        Format::Yaml => {
            let definition: WorkflowDefinition =
                serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(raw))
                    .map_err(refused_definition)?;
            serde_json::to_string(&definition)
                .map_err(|e| DirectoryError::Internal(format!("definition to JSON: {e}")))
        }
    }
}

/// The definition written out in `format`, ready for [`to_json`] (or any JSON import) to read
/// back as the same definition.
pub fn export(definition: &WorkflowDefinition, format: Format) -> Result<String, DirectoryError> {
    match format {
        Format::Json => serde_json::to_string_pretty(definition)
            .map(|s| s + "\n")
            .map_err(|e| DirectoryError::Internal(format!("definition to JSON: {e}"))),
        Format::Yaml => serde_yaml_ng::to_string(definition)
            .map_err(|e| DirectoryError::Internal(format!("definition to YAML: {e}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const YAML: &str = "\
name: Offboarding
trigger:
  kind: leaveDate
  offsetDays: 0
scope: department eq 'Sales'
steps:
  - action: resetPasswordUnknown
  - action: wait
    days: 2
  - action: sendEmail
    to: manager
    subject: '{{ user.displayName }} has left'
    body: |
      Hello,
      {{ user.displayName }} left today.
";

    #[test]
    fn a_yaml_definition_reads_as_the_same_model_and_round_trips_through_both_formats() {
        let json = to_json(YAML, Format::Yaml).unwrap();
        let parsed = WorkflowDefinition::parse_json(&json).unwrap();
        let def = parsed.definition;
        assert_eq!(def.name, "Offboarding");
        assert_eq!(def.steps.len(), 3);
        for format in [Format::Json, Format::Yaml] {
            let written = export(&def, format).unwrap();
            let back = WorkflowDefinition::parse_json(&to_json(&written, format).unwrap()).unwrap();
            assert_eq!(back.definition, def, "{format:?}:\n{written}");
        }
        assert!(
            export(&def, Format::Yaml)
                .unwrap()
                .contains("action: sendEmail")
        );
    }

    #[test]
    fn a_yaml_mistake_names_the_field_and_its_line() {
        let wrong_type = YAML.replace("days: 2", "days: two");
        let e = to_json(&wrong_type, Format::Yaml).unwrap_err().to_string();
        assert!(e.starts_with("steps[1]: is not valid: invalid type"), "{e}");
        assert!(e.contains("line 8"), "{e}");
        let wrong_trigger = YAML.replace("offsetDays: 0", "offsetDays: soon");
        let e = to_json(&wrong_trigger, Format::Yaml)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("trigger: ") && e.contains("soon"), "{e}");

        let unknown = YAML.replace("scope:", "scoop:");
        let e = to_json(&unknown, Format::Yaml).unwrap_err().to_string();
        assert!(e.contains("scoop"), "{e}");

        let e = to_json("name: 'unterminated", Format::Yaml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unexpected end") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn the_format_comes_from_the_extension_then_the_first_character() {
        assert_eq!(Format::of(Some(Path::new("a.YML")), "{"), Format::Yaml);
        assert_eq!(
            Format::of(Some(Path::new("a.json")), "name: x"),
            Format::Json
        );
        assert_eq!(Format::of(None, "  {\"name\": 1}"), Format::Json);
        assert_eq!(Format::of(Some(Path::new("def")), "name: x"), Format::Yaml);
        assert_eq!(Format::parse("YAML"), Some(Format::Yaml));
        assert_eq!(Format::parse("toml"), None);
    }

    #[test]
    fn an_oversized_file_is_refused_before_it_is_parsed() {
        let huge = "#".repeat(MAX_FILE_BYTES + 1);
        let e = to_json(&huge, Format::Yaml).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
    }
}
