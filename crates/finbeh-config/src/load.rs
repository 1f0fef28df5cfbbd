//! Loading: built-in defaults (or a program's own, [`Loader::defaults`]) < TOML file < `AZURE_*` variables < `FINBEH__SECTION__KEY` variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::builder::DefaultState;
use config::{Config, ConfigBuilder, File, FileFormat, Map, Source, Value, ValueKind};

use crate::error::ConfigError;
use crate::kinds::Schema;
use crate::secret::REDACTED;
use crate::settings::Settings;
use crate::validate::{Problem, ValidSettings};

/// The file read when no explicit path is given, if it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "finbeh.toml";

/// Prefix of the environment variables read, e.g. `FINBEH__SERVE__PORT` sets `serve.port`.
pub const ENV_PREFIX: &str = "FINBEH";

/// Azure's conventional variables and the keys they set (`FINBEH__…` variables win over them).
pub const AZURE_ENV_KEYS: [(&str, &str); 3] = [
    ("AZURE_SUBSCRIPTION_ID", "deploy.azure.subscription_id"),
    ("AZURE_RESOURCE_GROUP", "deploy.azure.resource_group"),
    ("AZURE_WORKSPACE_NAME", "deploy.azure.workspace_name"),
];

/// Tables whose `tag` key picks a variant: the default table is merged under the user's only
/// while the variant stays the default one (a `best_f1` threshold takes no default `value`).
const TAGGED_TABLES: [(&str, &str); 1] = [("model.threshold", "rule")];

/// Key names whose values are never shown in problems.
const SECRET_KEYS: [&str; 3] = ["primary_key", "secondary_key", "client_secret"];

/// Stops the problem-collecting loop on pathological input.
const MAX_TYPE_PROBLEMS: usize = 100;

/// Builds [`ValidSettings`] from defaults, a TOML file and the environment.
///
/// The environment is injected explicitly ([`Loader::env`]) or taken from the process
/// ([`Loader::env_from_process`]); a plain `Loader::new()` reads no variables at all.
///
/// ```
/// use finbeh_config::Loader;
/// let settings = Loader::new()
///     .env([("FINBEH__MODEL__N_ESTIMATORS", "250"), ("AZURE_RESOURCE_GROUP", "rg-prod")])
///     .load()
///     .unwrap();
/// assert_eq!(settings.model().n_estimators, 250);
/// assert_eq!(settings.deploy().azure.resource_group.as_deref(), Some("rg-prod"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Loader {
    file: Option<PathBuf>,
    env: BTreeMap<String, String>,
    defaults: Option<Box<Settings>>,
}

impl Loader {
    /// A loader reading `finbeh.toml` from the working directory if present, and no variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads this TOML file, which must exist; `None` reads `finbeh.toml` if it exists.
    pub fn file(mut self, path: Option<&Path>) -> Self {
        self.file = path.map(Path::to_path_buf);
        self
    }

    /// Puts `defaults` under the file and the environment instead of `Settings::default()`: a
    /// program whose own defaults differ (`workflow_runner` turns `monitor.enabled` on) while
    /// the file and the environment still decide.
    ///
    /// ```
    /// use finbeh_config::{Loader, Settings};
    /// let mut defaults = Settings::default();
    /// defaults.monitor.enabled = true;
    /// let loader = Loader::new().defaults(defaults);
    /// assert!(loader.load().unwrap().monitor().enabled);
    /// let settings = loader.env([("FINBEH__MONITOR__ENABLED", "false")]).load().unwrap();
    /// assert!(!settings.monitor().enabled);
    /// ```
    pub fn defaults(mut self, defaults: Settings) -> Self {
        self.defaults = Some(Box::new(defaults));
        self
    }

    /// Adds environment variables (later ones win); only `FINBEH__*` and `AZURE_*` ones matter.
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Adds the process environment (variables that are not valid Unicode are skipped).
    pub fn env_from_process(self) -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        self.env(vars)
    }

    /// Loads and validates, reporting every problem found (type errors and invalid values).
    pub fn load(&self) -> Result<ValidSettings, ConfigError> {
        let schema = Schema::new()?;
        // The user's layers are merged first, without the defaults, so their types can be checked.
        let mut builder = Config::builder();
        if let Some(text) = self.read_file()? {
            builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
        }
        let azure: Map<String, Value> = AZURE_ENV_KEYS
            .iter()
            .filter_map(|(var, key)| {
                let value = self.env.get(*var).filter(|v| !v.is_empty())?;
                let origin = (*var).to_owned();
                Some(((*key).to_owned(), Value::new(Some(&origin), value.clone())))
            })
            .collect();
        let (environment, mut problems) = self.environment(&schema);
        let mut user = collect(
            builder
                .add_source(Layer(azure))
                .add_source(Layer(environment)),
        )?;
        problems.extend(schema.check(&mut user));

        // Then the defaults go underneath, so a partial table keeps the keys it does not set.
        let built_in = Settings::default();
        let defaults = self.defaults.as_deref().unwrap_or(&built_in);
        let mut defaults = Value::new(
            None,
            ValueKind::Table(collect(
                Config::builder().add_source(Config::try_from(defaults).map_err(sources_error)?),
            )?),
        );
        let user = Value::new(None, ValueKind::Table(user));
        for (table, tag) in TAGGED_TABLES {
            let path = format!("{table}.{tag}");
            let chosen = lookup(&user, &path).map(|value| &value.kind);
            if chosen
                .is_some_and(|chosen| lookup(&defaults, &path).map(|d| &d.kind) != Some(chosen))
            {
                remove_path(&mut defaults, table);
            }
        }
        let merged = collect(
            Config::builder()
                .add_source(Layer::from(defaults))
                .add_source(Layer::from(user)),
        )?;
        deserialize_all(Value::new(None, ValueKind::Table(merged)), problems)
    }

    /// The `FINBEH__*` variables as a tree of typed values, parsed by each key's type, and the
    /// problems with the ones that do not parse.
    fn environment(&self, schema: &Schema) -> (Map<String, Value>, Vec<Problem>) {
        let mut tree = Map::new();
        let mut problems = Vec::new();
        let prefix = format!("{ENV_PREFIX}__");
        for (var, text) in &self.env {
            let Some(rest) = var.strip_prefix(&prefix) else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let key = path.join(".");
            match schema.env_value(&path, text) {
                Ok(value) => insert_path(&mut tree, &path, value),
                Err(expected) => problems.push(Problem {
                    value: show_value(&key, &Value::new(None, text.clone())),
                    key,
                    expected: format!("{expected} (from {var})"),
                }),
            }
        }
        (tree, problems)
    }
    /// The configuration file's text, if there is one to read.
    fn read_file(&self) -> Result<Option<String>, ConfigError> {
        let path = match &self.file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::FileNotFound { path: path.clone() });
            }
            Some(path) => path.clone(),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => PathBuf::from(DEFAULT_CONFIG_FILE),
            None => return Ok(None),
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        // Parse once here so a syntax error names the file, with line and column.
        toml::from_str::<toml::Table>(&text).map_err(|error| ConfigError::Parse {
            path,
            message: error.to_string(),
        })?;
        Ok(Some(text))
    }
}

/// A fixed set of already-keyed values: the `AZURE_*` variables, the environment, a tree.
#[derive(Debug, Clone)]
struct Layer(Map<String, Value>);

impl From<Value> for Layer {
    /// A tree's top-level entries (nothing for a tree that is not a table).
    fn from(tree: Value) -> Self {
        match tree.kind {
            ValueKind::Table(entries) => Self(entries),
            _ => Self(Map::new()),
        }
    }
}

impl Source for Layer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(self.0.clone())
    }
}

fn sources_error(error: config::ConfigError) -> ConfigError {
    ConfigError::Sources(error.to_string())
}

fn collect(builder: ConfigBuilder<DefaultState>) -> Result<Map<String, Value>, ConfigError> {
    builder
        .build()
        .and_then(|config| config.collect())
        .map_err(sources_error)
}

/// Sets `path` in a tree of tables, replacing anything in the way.
fn insert_path(tree: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut table = tree;
    for segment in parents {
        let node = table
            .entry(segment.clone())
            .or_insert_with(|| Value::new(None, Map::<String, Value>::new()));
        if !matches!(node.kind, ValueKind::Table(_)) {
            *node = Value::new(None, Map::<String, Value>::new());
        }
        let ValueKind::Table(inner) = &mut node.kind else {
            return;
        };
        table = inner;
    }
    table.insert(last.clone(), value);
}

/// Deserializes the merged tree. Serde stops at the first type error, so each time one is hit it
/// is recorded and the offending key removed (falling back to its default) before retrying; the
/// result is then validated and all problems are reported together.
fn deserialize_all(
    mut tree: Value,
    mut problems: Vec<Problem>,
) -> Result<ValidSettings, ConfigError> {
    let mut last_removed = String::new();
    for _ in 0..MAX_TYPE_PROBLEMS {
        match tree.clone().try_deserialize::<Settings>() {
            Ok(settings) => {
                // Fields are visited in hash order: sort so the report is stable.
                problems.sort_by(|a: &Problem, b: &Problem| a.key.cmp(&b.key));
                return match settings.check() {
                    Ok(valid) if problems.is_empty() => Ok(valid),
                    Ok(_) => Err(ConfigError::Invalid(problems)),
                    Err(ConfigError::Invalid(more)) => {
                        problems.extend(more);
                        Err(ConfigError::Invalid(problems))
                    }
                    Err(other) => Err(other),
                };
            }
            Err(error) => {
                let Some(failure) = Failure::from_error(error, &tree) else {
                    return Err(ConfigError::Invalid(problems));
                };
                // Removing a bad required value (an enum tag, say) makes it missing next time
                // round: that is the same problem, not a new one.
                let reported = problems.iter().any(|p| p.key == failure.problem.key);
                if failure.problem.key != last_removed && !reported {
                    problems.push(failure.problem);
                }
                last_removed = failure.remove.clone();
                if !remove_path(&mut tree, &failure.remove) {
                    return Err(ConfigError::Invalid(problems));
                }
            }
        }
    }
    Err(ConfigError::Invalid(problems))
}

/// A deserialization error turned into a problem, with the key to drop before retrying.
struct Failure {
    problem: Problem,
    remove: String,
}

impl Failure {
    fn from_error(error: config::ConfigError, tree: &Value) -> Option<Self> {
        let (key, inner) = split_key(error);
        let (key, expected, remove) = match inner {
            config::ConfigError::Type { expected, .. } => {
                let key = key?;
                (key.clone(), format!("expected {expected}"), key)
            }
            config::ConfigError::NotFound(path) => {
                // A required field of a table is missing: drop the table.
                let full = join(key.as_deref(), &path);
                let parent = full
                    .rsplit_once('.')
                    .map_or_else(|| full.clone(), |(parent, _)| parent.to_owned());
                let problem = Problem {
                    key: full,
                    value: "(not set)".to_owned(),
                    expected: "is required".to_owned(),
                };
                return Some(Self {
                    problem,
                    remove: parent,
                });
            }
            config::ConfigError::Message(message) => {
                if let Some(field) = backticked_after(&message, "unknown field `") {
                    let full = join(key.as_deref(), field);
                    let allowed = message
                        .split_once(", expected ")
                        .map_or("", |(_, rest)| rest);
                    let expected = if allowed.is_empty() {
                        "unknown key".to_owned()
                    } else {
                        format!("unknown key; expected {allowed}")
                    };
                    (full.clone(), expected, full)
                } else if message.starts_with("unknown variant `") {
                    let allowed = message
                        .split_once(", expected ")
                        .map_or("", |(_, rest)| rest)
                        .replace('`', "\"");
                    let key = key?;
                    (key.clone(), format!("must be {allowed}"), key)
                } else if message.starts_with("data did not match any variant") {
                    let key = key?;
                    (key.clone(), "must be a number or a string".to_owned(), key)
                } else {
                    let key = key?;
                    (key.clone(), message, key)
                }
            }
            _ => return None,
        };
        let value =
            lookup(tree, &key).map_or_else(|| "(not set)".to_owned(), |v| show_value(&key, v));
        Some(Self {
            problem: Problem {
                key,
                value,
                expected,
            },
            remove,
        })
    }
}

/// Separates the key path config attached to an error from the underlying error.
fn split_key(error: config::ConfigError) -> (Option<String>, config::ConfigError) {
    match error {
        config::ConfigError::At { error, key, .. } => {
            let (inner_key, inner) = split_key(*error);
            let key = match (key, inner_key) {
                (Some(outer), Some(inner)) => Some(join(Some(&outer), &inner)),
                (outer, inner) => outer.or(inner),
            };
            (key, inner)
        }
        config::ConfigError::Type {
            origin,
            unexpected,
            expected,
            key,
        } => (
            key.clone(),
            config::ConfigError::Type {
                origin,
                unexpected,
                expected,
                key,
            },
        ),
        other => (None, other),
    }
}

/// `parent.child`, written the way problems name keys: `a.b[0].c` (config gives `[0]c` pieces).
fn join(parent: Option<&str>, child: &str) -> String {
    let joined = match parent {
        Some(parent) if !parent.is_empty() && !child.starts_with('[') => {
            format!("{parent}.{child}")
        }
        Some(parent) => format!("{parent}{child}"),
        None => child.to_owned(),
    };
    let mut out = String::with_capacity(joined.len() + 2);
    let mut after_index = false;
    for c in joined.chars() {
        if after_index && c != '.' && c != '[' {
            out.push('.');
        }
        after_index = c == ']';
        out.push(c);
    }
    out
}

fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// Splits `a.b[2].c` into name segments and indices.
fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, indices) = part
            .split_once('[')
            .map_or((part, ""), |(n, rest)| (n, rest));
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        for index in indices.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse::<usize>() {
                out.push(Segment::Index(i));
            }
        }
    }
    out
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn lookup<'a>(tree: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path)
        .into_iter()
        .try_fold(tree, |node, segment| match (&node.kind, segment) {
            (ValueKind::Table(table), Segment::Key(key)) => table.get(key),
            (ValueKind::Array(items), Segment::Index(i)) => items.get(i),
            _ => None,
        })
}

fn remove_path(tree: &mut Value, path: &str) -> bool {
    let mut segments = segments(path);
    let Some(last) = segments.pop() else {
        return false;
    };
    let mut node = tree;
    for segment in segments {
        let next = match (&mut node.kind, segment) {
            (ValueKind::Table(table), Segment::Key(key)) => table.get_mut(key),
            (ValueKind::Array(items), Segment::Index(i)) => items.get_mut(i),
            _ => None,
        };
        match next {
            Some(child) => node = child,
            None => return false,
        }
    }
    match (&mut node.kind, last) {
        (ValueKind::Table(table), Segment::Key(key)) => table.remove(key).is_some(),
        (ValueKind::Array(items), Segment::Index(i)) if i < items.len() => {
            items.remove(i);
            true
        }
        _ => false,
    }
}

/// True for key names that hold, or look like they hold, a secret.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_KEYS.contains(&name.as_str())
        || ["key", "secret", "password", "token"]
            .iter()
            .any(|word| name.contains(word))
}

/// A value as TOML-like text, with anything under a secret-looking key shown as `***`.
pub(crate) fn show_value(key: &str, value: &Value) -> String {
    let name = key.rsplit('.').next().unwrap_or(key);
    let name = name.split('[').next().unwrap_or(name);
    if is_secret_name(name) {
        return REDACTED.to_owned();
    }
    render(value)
}

fn render(value: &Value) -> String {
    match &value.kind {
        ValueKind::Nil => "(not set)".to_owned(),
        ValueKind::String(text) => format!("{text:?}"),
        ValueKind::Table(table) => {
            let mut entries: Vec<_> = table
                .iter()
                .map(|(k, v)| format!("{k} = {}", show_value(k, v)))
                .collect();
            entries.sort();
            format!("{{ {} }}", entries.join(", "))
        }
        ValueKind::Array(items) => {
            let items: Vec<_> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}
