//! Loading layers, validation problems, redaction and the documented example file.
// Helpers outside #[test] fns are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use finbeh_config::{
    ConfigError, DeployTarget, DeriveRule, DeriveRuleKind, DeriveValue, Loader, Problem, Secret,
    Settings, ThresholdRule, ValidSettings,
};

const EXAMPLE: &str = include_str!("../../../finbeh.example.toml");

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn load(toml: &str, env: &[(&str, &str)]) -> Result<ValidSettings, ConfigError> {
    let file = toml_file(toml);
    Loader::new()
        .file(Some(file.path()))
        .env(env.iter().copied())
        .load()
}

fn problems(toml: &str, env: &[(&str, &str)]) -> Vec<Problem> {
    match load(toml, env) {
        Err(ConfigError::Invalid(problems)) => problems,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

fn problem_for<'a>(problems: &'a [Problem], key: &str) -> &'a Problem {
    problems
        .iter()
        .find(|p| p.key == key)
        .unwrap_or_else(|| panic!("no problem for {key} in {problems:#?}"))
}

// ---- load layers ----

#[test]
fn defaults_apply_without_file_or_environment() {
    assert!(
        !Path::new("finbeh.toml").exists(),
        "test needs no finbeh.toml in the crate dir"
    );
    let settings = Loader::new().load().unwrap();
    assert_eq!(settings.settings(), &Settings::default());
    assert_eq!(settings.model().random_state, 42);
    assert_eq!(settings.deploy().azure.instance_type, "Standard_F4s_v2");
}

#[test]
fn file_overrides_defaults_and_keeps_the_rest() {
    let settings = load(
        "[model]\nn_estimators = 7\n[serve]\nhost = \"0.0.0.0\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(settings.model().n_estimators, 7);
    assert_eq!(settings.serve().host, "0.0.0.0");
    assert_eq!(settings.model().max_depth, 10);
    assert_eq!(settings.serve().port, 5001);
}

#[test]
fn environment_overrides_file_with_typed_values() {
    let settings = load(
        "[model]\nn_estimators = 7\nbootstrap = true\n",
        &[
            ("FINBEH__MODEL__N_ESTIMATORS", "9"),
            ("FINBEH__MODEL__BOOTSTRAP", "false"),
            ("FINBEH__MODEL__TEST_SIZE", "0.25"),
            ("FINBEH__MODEL__VERSION", "2"),
            ("FINBEH__DATA__ID", "Customer_ID,Account_ID"),
            ("FINBEH__DATA__DELIMITER", ";"),
            ("FINBEH__DEPLOY__AZURE__REGION", "westeurope"),
            ("FINBEH__LOGGING__FORMAT", "json"),
            ("UNRELATED", "ignored"),
        ],
    )
    .unwrap();
    assert_eq!(settings.model().n_estimators, 9);
    assert!(!settings.model().bootstrap);
    assert_eq!(settings.model().test_size, 0.25);
    assert_eq!(settings.model().version, "2");
    assert_eq!(settings.data().id, ["Customer_ID", "Account_ID"]);
    assert_eq!(settings.data().delimiter, ';');
    assert_eq!(settings.deploy().azure.region, "westeurope");
    assert_eq!(settings.logging().format, finbeh_config::LogFormat::Json);
}

#[test]
fn empty_environment_variable_is_an_error() {
    let found = problems("[serve]\nport = 6000\n", &[("FINBEH__SERVE__PORT", "")]);
    assert_eq!(
        found[0].to_string(),
        "serve.port = \"\": an empty variable is an error: unset it to keep the value \
         (from FINBEH__SERVE__PORT)"
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    for var in [
        "FINBEH__MODEL__VERSION",
        "FINBEH__MODEL__BOOTSTRAP",
        "FINBEH__MODEL__TEST_SIZE",
        "FINBEH__DATA__ID",
        "FINBEH__SERVE__PRIMARY_KEY",
    ] {
        let found = problems("", &[(var, "")]);
        assert_eq!(found.len(), 1, "{var}: {found:#?}");
        assert!(found[0].expected.contains(var), "{}", found[0]);
    }
}

/// The list: each was silently converted (1.5 -> 2, 127 -> "127", "on" -> true, ...).
#[test]
fn wrong_types_are_listed_together_and_never_converted() {
    let found = problems(
        "[data]\ninclude_pii = \"on\"\nlenient = \"yes\"\n\
         [model]\nbootstrap = \"0\"\n\
         [serve]\nhost = 127\nrequest_timeout_ms = 1.5\nmax_concurrent_requests = 2.9\n",
        &[],
    );
    let shown: Vec<String> = found.iter().map(Problem::to_string).collect();
    assert_eq!(
        shown,
        [
            "data.include_pii = \"on\": expected a boolean (true or false)",
            "data.lenient = \"yes\": expected a boolean (true or false)",
            "model.bootstrap = \"0\": expected a boolean (true or false)",
            "serve.host = 127: expected a string",
            "serve.max_concurrent_requests = 2.9: expected an integer (no fraction)",
            "serve.request_timeout_ms = 1.5: expected an integer (no fraction)",
        ]
    );
}

#[test]
fn nested_values_lists_and_secrets_are_type_checked() {
    let found = problems(
        "[data]\nid = [\"a\", 7]\ntarget = 3\n\
         [[data.date_differences]]\nname = 1\nstart = \"s\"\nend = \"e\"\n\
         [data.derive.Big]\nfrom = \"Amount\"\nrule = \"above\"\nvalue = true\n\
         [model]\nthreshold = 0.5\n\
         [serve]\nprimary_key = 12345\n",
        &[],
    );
    let shown: BTreeSet<String> = found.iter().map(Problem::to_string).collect();
    assert_eq!(
        shown,
        BTreeSet::from([
            "data.date_differences[0].name = 1: expected a string".to_owned(),
            "data.derive.Big.value = true: expected a number or a string".to_owned(),
            "data.id = [\"a\", 7]: expected an array of strings".to_owned(),
            "data.target = 3: expected a string".to_owned(),
            "model.threshold = 0.5: expected a table".to_owned(),
            "serve.primary_key = ***: expected a string".to_owned(),
        ])
    );
}

/// The documented parse rule of each type, for `FINBEH__*` values.
#[test]
fn environment_values_follow_one_parse_rule_per_type() {
    let ok = load(
        "",
        &[
            ("FINBEH__MODEL__BOOTSTRAP", "false"),
            ("FINBEH__MODEL__OOB_SCORE", "false"),
            ("FINBEH__SERVE__PORT", "8080"),
            ("FINBEH__MODEL__TEST_SIZE", "1e-1"),
            ("FINBEH__MODEL__MIN_IMPURITY_DECREASE", "0"),
            ("FINBEH__MODEL__VERSION", "007"),
            ("FINBEH__DATA__ID", "A, B"),
        ],
    )
    .unwrap();
    assert!(!ok.model().bootstrap);
    assert_eq!(ok.serve().port, 8080);
    assert_eq!(ok.model().test_size, 0.1);
    assert_eq!(ok.model().version, "007");
    assert_eq!(ok.data().id, ["A", " B"]);

    for (var, text, expected) in [
        (
            "FINBEH__MODEL__BOOTSTRAP",
            "TRUE",
            "expected a boolean: true or false",
        ),
        (
            "FINBEH__MODEL__BOOTSTRAP",
            "1",
            "expected a boolean: true or false",
        ),
        (
            "FINBEH__DATA__LENIENT",
            "yes",
            "expected a boolean: true or false",
        ),
        (
            "FINBEH__SERVE__PORT",
            "80.0",
            "expected an integer such as 8080",
        ),
        (
            "FINBEH__SERVE__PORT",
            "8e3",
            "expected an integer such as 8080",
        ),
        (
            "FINBEH__SERVE__PORT",
            " 80",
            "expected an integer such as 8080",
        ),
        (
            "FINBEH__SERVE__REQUEST_TIMEOUT_MS",
            "1.5",
            "expected an integer such as 8080",
        ),
        (
            "FINBEH__MODEL__TEST_SIZE",
            "a quarter",
            "expected a number such as 0.25",
        ),
    ] {
        let found = problems("", &[(var, text)]);
        assert_eq!(found.len(), 1, "{var}={text}: {found:#?}");
        assert_eq!(found[0].value, format!("{text:?}"));
        assert!(
            found[0].expected.starts_with(expected) && found[0].expected.contains(var),
            "{var}={text}: {}",
            found[0]
        );
    }
    // A string setting takes the text as it is: `127` stays "127", which is not a host.
    let found = problems("", &[("FINBEH__SERVE__HOST", "127")]);
    assert_eq!(
        problem_for(&found, "serve.host").value,
        "\"127\"",
        "{found:#?}"
    );
}

#[test]
fn host_is_an_ip_address_or_a_host_name() {
    for good in [
        "127.0.0.1",
        "0.0.0.0",
        "::1",
        "localhost",
        "api-1.example.com",
        "host.",
    ] {
        let settings = load(&format!("[serve]\nhost = {good:?}\n"), &[]);
        assert!(settings.is_ok(), "{good}: {settings:?}");
    }
    for bad in [
        "127",
        "1.2.3",
        "",
        "bad host",
        "-x.example",
        "x_y",
        "a..b",
        "300.1.1.1",
    ] {
        let found = problems(&format!("[serve]\nhost = {bad:?}\n"), &[]);
        assert_eq!(found.len(), 1, "{bad}: {found:#?}");
        assert_eq!(found[0].key, "serve.host");
        assert!(found[0].expected.contains("IP address"), "{}", found[0]);
    }
}

/// "Keep only the lines you change": a partial table merges with the defaults.
#[test]
fn partial_tables_merge_with_the_defaults() {
    let fixed = ThresholdRule::Fixed { value: 0.3 };
    let settings = load("[model.threshold]\nvalue = 0.3\n", &[]).unwrap();
    assert_eq!(settings.model().threshold, fixed);
    let settings = load("", &[("FINBEH__MODEL__THRESHOLD__VALUE", "0.3")]).unwrap();
    assert_eq!(settings.model().threshold, fixed);
    let settings = load("[model]\nthreshold = { value = 0.3 }\n", &[]).unwrap();
    assert_eq!(settings.model().threshold, fixed);

    let settings = load(
        "[deploy.local]\nblue_port = 6001\n",
        &[("FINBEH__DEPLOY__AZURE__REGION", "westeurope")],
    )
    .unwrap();
    let defaults = Settings::default().deploy;
    assert_eq!(settings.deploy().local.blue_port, 6001);
    assert_eq!(
        settings.deploy().local.green_port,
        defaults.local.green_port
    );
    assert_eq!(
        settings.deploy().local.registry_dir,
        defaults.local.registry_dir
    );
    assert_eq!(settings.deploy().azure.region, "westeurope");
    assert_eq!(
        settings.deploy().azure.endpoint_name,
        defaults.azure.endpoint_name
    );

    // A different rule does not inherit the default rule's value.
    let settings = load("", &[("FINBEH__MODEL__THRESHOLD__RULE", "best_f1")]).unwrap();
    assert_eq!(settings.model().threshold, ThresholdRule::BestF1);
    let found = problems("[model.threshold]\nrule = \"target_recall\"\n", &[]);
    assert_eq!(
        found[0].to_string(),
        "model.threshold.value = (not set): is required"
    );
}

#[test]
fn azure_variables_map_to_deploy_azure_and_beat_the_file() {
    let settings = load(
        "[deploy.azure]\nresource_group = \"file-rg\"\n",
        &[
            ("AZURE_SUBSCRIPTION_ID", "abc"),
            ("AZURE_RESOURCE_GROUP", "env-rg"),
            ("AZURE_WORKSPACE_NAME", "ws"),
        ],
    )
    .unwrap();
    let azure = &settings.deploy().azure;
    assert_eq!(azure.subscription_id.as_deref(), Some("abc"));
    assert_eq!(azure.resource_group.as_deref(), Some("env-rg"));
    assert_eq!(azure.workspace_name.as_deref(), Some("ws"));
    assert!(
        settings
            .to_toml_redacted()
            .contains("subscription_id = \"abc\"")
    );
}

#[test]
fn finbeh_variables_beat_azure_variables() {
    let settings = Loader::new()
        .env([
            ("FINBEH__DEPLOY__AZURE__SUBSCRIPTION_ID", "from-finbeh"),
            ("AZURE_SUBSCRIPTION_ID", "from-azure"),
        ])
        .load()
        .unwrap();
    assert_eq!(
        settings.deploy().azure.subscription_id.as_deref(),
        Some("from-finbeh")
    );
}

#[test]
fn explicit_missing_file_is_an_error_naming_it() {
    let err = Loader::new()
        .file(Some(Path::new("no/such/finbeh.toml")))
        .load()
        .unwrap_err();
    assert!(matches!(err, ConfigError::FileNotFound { .. }));
    assert!(err.to_string().contains("no/such/finbeh.toml"), "{err}");
}

#[test]
fn toml_syntax_error_names_the_file_and_line() {
    let file = toml_file("[model]\nn_estimators = = 3\n");
    let err = Loader::new().file(Some(file.path())).load().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConfigError::Parse { .. }));
    assert!(text.contains(&file.path().display().to_string()), "{text}");
    assert!(text.contains("line 2"), "{text}");
}

// ---- validation: one test per class of problem ----

#[test]
fn out_of_range_port_names_key_value_and_range() {
    let found = problems("", &[("FINBEH__SERVE__PORT", "99999")]);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].to_string(),
        "serve.port = 99999: must be 1..=65535"
    );
    let found = problems("[serve]\nport = 0\n", &[]);
    assert_eq!(found[0].to_string(), "serve.port = 0: must be 1..=65535");
}

#[test]
fn range_problems_in_every_section() {
    let found = problems(
        "[data]\nleakage_warn_auc = 0.4\nleakage_value_class_share = 0.9\nleakage_value_other_share = 0.95\n\
         [model]\ntest_size = 1.0\ncv_folds = 1\nmax_bins = 300\ngolden_set_size = 10\n\
         [monitor]\nsample_rate = 1.5\n\
         [deploy.azure]\ninstance_count = 0\narm_base_url = \"ftp://x\"\n\
         [testing]\nsmoke_rows = 0\n",
        &[],
    );
    for (key, expected) in [
        (
            "data.leakage_warn_auc",
            "data.leakage_warn_auc = 0.4: must be in (0.5, 1]",
        ),
        (
            "data.leakage_value_other_share",
            "data.leakage_value_other_share = 0.95: must be in [0, data.leakage_value_class_share = 0.9)",
        ),
        ("model.test_size", "model.test_size = 1: must be in (0, 1)"),
        ("model.cv_folds", "model.cv_folds = 1: must be at least 2"),
        ("model.max_bins", "model.max_bins = 300: must be 2..=255"),
        (
            "model.golden_set_size",
            "model.golden_set_size = 10: must be at least 32",
        ),
        (
            "monitor.sample_rate",
            "monitor.sample_rate = 1.5: must be in [0, 1]",
        ),
        (
            "deploy.azure.instance_count",
            "deploy.azure.instance_count = 0: must be at least 1",
        ),
        (
            "deploy.azure.arm_base_url",
            "deploy.azure.arm_base_url = \"ftp://x\": must be an http:// or https:// URL",
        ),
        (
            "testing.smoke_rows",
            "testing.smoke_rows = 0: must be at least 1",
        ),
    ] {
        assert_eq!(problem_for(&found, key).to_string(), expected);
    }
    assert_eq!(found.len(), 10, "{found:#?}");
}

#[test]
fn leakage_warning_level_above_the_error_level_is_refused() {
    let found = problems(
        "[data]\nleakage_warn_auc = 0.995\nleakage_error_auc = 0.99\n",
        &[],
    );
    assert_eq!(
        problem_for(&found, "data.leakage_warn_auc").to_string(),
        "data.leakage_warn_auc = 0.995: must not exceed data.leakage_error_auc (0.99)"
    );
    assert_eq!(found.len(), 1, "{found:#?}");
}

#[test]
fn unknown_enum_variant_lists_the_allowed_ones() {
    let found = problems("[model]\ncriterion = \"gin\"\n", &[]);
    let problem = problem_for(&found, "model.criterion");
    assert_eq!(problem.value, "\"gin\"");
    assert!(
        problem.expected.contains("gini") && problem.expected.contains("entropy"),
        "{problem}"
    );
    let found = problems("", &[("FINBEH__DEPLOY__TARGET", "cloud")]);
    assert!(
        problem_for(&found, "deploy.target")
            .expected
            .contains("azure")
    );
}

#[test]
fn unknown_key_is_named_with_its_full_path() {
    let found = problems(
        "[serve]\nprot = 8080\n[deploy.azure]\nregon = \"x\"\n[srve]\nport = 1\n",
        &[],
    );
    let keys: BTreeSet<_> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["serve.prot", "deploy.azure.regon", "srve"])
    );
    assert!(problem_for(&found, "serve.prot").expected.contains("port"));
}

#[test]
fn type_errors_name_the_key() {
    let found = problems(
        "[model]\nn_estimators = \"many\"\n",
        &[
            ("FINBEH__SERVE__PORT", "abc"),
            ("FINBEH__MODEL__BOOTSTRAP", "maybe"),
        ],
    );
    let port = problem_for(&found, "serve.port");
    assert_eq!(port.value, "\"abc\"");
    assert!(
        port.to_string()
            .starts_with("serve.port = \"abc\": expected"),
        "{port}"
    );
    assert_eq!(problem_for(&found, "model.n_estimators").value, "\"many\"");
    assert_eq!(problem_for(&found, "model.bootstrap").value, "\"maybe\"");
    assert_eq!(found.len(), 3, "{found:#?}");
}

#[test]
fn azure_target_requires_subscription_group_and_workspace() {
    let found = problems("[deploy]\ntarget = \"azure\"\n", &[]);
    let keys: Vec<_> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "deploy.azure.subscription_id",
            "deploy.azure.resource_group",
            "deploy.azure.workspace_name",
            "deploy.azure.image"
        ]
    );
    assert!(found[0].expected.contains("deploy.target = \"azure\""));
    let ok = load(
        "[deploy]\ntarget = \"azure\"\n",
        &[
            ("AZURE_SUBSCRIPTION_ID", "s"),
            ("AZURE_RESOURCE_GROUP", "g"),
            ("AZURE_WORKSPACE_NAME", "w"),
            (
                "FINBEH__DEPLOY__AZURE__IMAGE",
                "registry.example/finbeh-serve:1",
            ),
        ],
    )
    .unwrap();
    assert_eq!(ok.deploy().target, DeployTarget::Azure);
}

#[test]
fn access_token_credential_requires_the_token_and_refuses_a_bad_blob_url() {
    let base = "[deploy]\ntarget = \"azure\"\n[deploy.azure]\nsubscription_id = \"s\"\n\
                resource_group = \"g\"\nworkspace_name = \"w\"\nimage = \"i\"\n\
                credential = \"access_token\"\nblob_url = \"ftp://x\"\n";
    let found = problems(base, &[]);
    let keys: Vec<_> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["deploy.azure.blob_url", "deploy.azure.access_token"]);
    assert!(
        found[1]
            .expected
            .contains("FINBEH__DEPLOY__AZURE__ACCESS_TOKEN")
    );
    let fixed = base.replace("ftp://x", "http://127.0.0.1:10000/devstoreaccount1");
    let ok = load(&fixed, &[("FINBEH__DEPLOY__AZURE__ACCESS_TOKEN", "tok")]).unwrap();
    let azure = &ok.deploy().azure;
    assert_eq!(azure.access_token.as_ref().map(|t| t.expose()), Some("tok"));
    assert_eq!(azure.api_version, "2025-12-01");
}

#[test]
fn client_secret_credential_requires_the_service_principal() {
    let found = problems(
        "[deploy]\ntarget = \"azure\"\n[deploy.azure]\nsubscription_id = \"s\"\n\
         resource_group = \"g\"\nworkspace_name = \"w\"\ncredential = \"client_secret\"\nimage = \"i\"\n",
        &[],
    );
    let keys: Vec<_> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "deploy.azure.tenant_id",
            "deploy.azure.client_id",
            "deploy.azure.client_secret"
        ]
    );
}

#[test]
fn threshold_rules_are_checked() {
    let ok = load("[model.threshold]\nrule = \"best_f1\"\n", &[]).unwrap();
    assert_eq!(ok.model().threshold, ThresholdRule::BestF1);
    let ok = load(
        "[model]\nthreshold = { rule = \"target_recall\", value = 0.9 }\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        ok.model().threshold,
        ThresholdRule::TargetRecall { value: 0.9 }
    );

    let found = problems("[model.threshold]\nrule = \"fixed\"\nvalue = 1.5\n", &[]);
    assert_eq!(
        found[0].to_string(),
        "model.threshold.value = 1.5: must be in [0, 1] for rule \"fixed\""
    );
    let found = problems(
        "[model.threshold]\nrule = \"target_recall\"\nvalue = 0\n",
        &[],
    );
    assert_eq!(problem_for(&found, "model.threshold.value").value, "0");
    let ok = load("[model.threshold]\nrule = \"fixed\"\n", &[]).unwrap();
    assert_eq!(ok.model().threshold, ThresholdRule::Fixed { value: 0.5 });
    let found = problems("[model.threshold]\nrule = \"best\"\n", &[]);
    assert_eq!(
        found,
        [Problem {
            key: "model.threshold.rule".into(),
            value: "\"best\"".into(),
            expected: "must be one of \"fixed\", \"best_f1\", \"target_recall\"".into(),
        }]
    );
}

#[test]
fn max_features_accepts_names_and_fractions_only() {
    for good in ["sqrt", "log2", "all", "0.3", "1"] {
        let toml = format!("[model]\nmax_features = \"{good}\"\n");
        assert!(load(&toml, &[]).is_ok(), "{good} should be accepted");
    }
    for bad in ["0", "1.5", "half", "-0.2", "NaN"] {
        let toml = format!("[model]\nmax_features = \"{bad}\"\n");
        let found = problems(&toml, &[]);
        let problem = problem_for(&found, "model.max_features");
        assert_eq!(problem.value, format!("\"{bad}\""));
        assert!(problem.expected.contains("sqrt"));
    }
}

#[test]
fn data_rules_are_checked() {
    let found = problems(
        "[data]\ndate_reference = \"2024-02-30\"\nnumeric = [\"Amount\"]\nid = [\"Amount\"]\n\
         delimiter = \"\\n\"\n\
         [data.derive.Big]\nfrom = \"Amount\"\nrule = \"quantile_above\"\nvalue = 1.5\n\
         [data.derive.Odd]\nfrom = \"Amount\"\nrule = \"at_least\"\nvalue = \"lots\"\n\
         [data.derive.Fraud]\nfrom = \"Label\"\nrule = \"equals\"\nvalue = \"yes\"\n",
        &[],
    );
    let keys: BTreeSet<_> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "data.date_reference",
            "data.numeric",
            "data.delimiter",
            "data.derive.Big.value",
            "data.derive.Odd.value",
        ])
    );
    assert!(
        problem_for(&found, "data.numeric")
            .expected
            .contains("data.id")
    );
}

#[test]
fn bad_log_level_is_a_problem() {
    let found = problems("[logging]\nlevel = \"verbose\"\n", &[]);
    assert_eq!(problem_for(&found, "logging.level").value, "\"verbose\"");
    assert!(load("[logging]\nlevel = \"warn,finbeh_serve=debug\"\n", &[]).is_ok());
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = problems(
        "[model]\nn_estimators = \"many\"\ncv_folds = 1\nmax_features = \"most\"\n[serve]\nprot = 1\n",
        &[
            ("FINBEH__SERVE__PORT", "99999"),
            ("FINBEH__DEPLOY__TARGET", "azure"),
        ],
    );
    let keys: BTreeSet<_> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "model.n_estimators",
            "model.cv_folds",
            "model.max_features",
            "serve.prot",
            "serve.port",
            "deploy.azure.subscription_id",
            "deploy.azure.resource_group",
            "deploy.azure.workspace_name",
            "deploy.azure.image",
        ])
    );
    let text = ConfigError::Invalid(found).to_string();
    assert!(
        text.starts_with("invalid configuration (9 problems):"),
        "{text}"
    );
}

#[test]
fn check_is_available_on_settings_built_in_code() {
    let mut settings = Settings::default();
    settings.serve.port = 0;
    settings.model.min_samples_leaf = 0;
    let err = settings.check().unwrap_err();
    assert_eq!(err.problems().len(), 2);
    assert!(Settings::default().check().is_ok());
}

// ---- redaction ----

#[test]
fn secret_never_prints_itself() {
    let secret = Secret::new("sekrit".to_owned());
    assert_eq!(format!("{secret}"), "***");
    assert_eq!(format!("{secret:?}"), "***");
    assert_eq!(secret.expose(), "sekrit");
}

#[test]
fn secrets_from_the_environment_never_leak() {
    let env = [
        ("FINBEH__SERVE__PRIMARY_KEY", "sekrit-1"),
        ("FINBEH__SERVE__SECONDARY_KEY", "sekrit-2"),
        ("FINBEH__DEPLOY__AZURE__CLIENT_SECRET", "sekrit-3"),
    ];
    let settings = Loader::new().env(env).load().unwrap();
    assert_eq!(
        settings.serve().primary_key.as_ref().unwrap().expose(),
        "sekrit-1"
    );
    let dump = settings.to_toml_redacted();
    let debug = format!("{settings:?}");
    for text in [&dump, &debug] {
        assert!(!text.contains("sekrit"), "{text}");
    }
    assert!(dump.contains("primary_key = \"***\""), "{dump}");
    assert!(dump.contains("client_secret = \"***\""), "{dump}");

    // Alongside other problems, and under misspelt keys, secrets stay hidden too.
    // (The plain CLIENT_SECRET is left out: config merges conflicting keys in hash order.)
    let with_errors = [
        ("FINBEH__SERVE__PRIMARY_KEY", "sekrit-1"),
        ("FINBEH__SERVE__PORT", "99999"),
        ("FINBEH__SERVE__PRIMARYKEY", "sekrit-4"),
        ("FINBEH__DEPLOY__AZURE__CLIENT_SECRET__VALUE", "sekrit-5"),
    ];
    let err = Loader::new().env(with_errors).load().unwrap_err();
    assert!(err.problems().len() >= 3, "{err}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("sekrit"), "{text}");
    }
}

#[test]
fn redacted_dump_parses_back_to_the_same_settings() {
    let settings = load("[model]\nn_estimators = 7\n[data]\npath = \"x.csv\"\n", &[]).unwrap();
    let reparsed: Settings = toml::from_str(&settings.to_toml_redacted()).unwrap();
    assert_eq!(&reparsed, settings.settings());
}

// ---- the documented example file ----

#[test]
fn example_file_matches_the_built_in_defaults() {
    let parsed: Settings = toml::from_str(EXAMPLE).unwrap();
    assert_eq!(parsed, Settings::default());
    let file = toml_file(EXAMPLE);
    let loaded = Loader::new().file(Some(file.path())).load().unwrap();
    assert_eq!(loaded.settings(), &Settings::default());
}

/// Every key, including the optional ones, appears in the example file (set or commented out)
/// under its own section header.
#[test]
fn example_file_documents_every_key() {
    let mut documented = BTreeSet::new();
    let mut section = String::new();
    for line in EXAMPLE.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some(header) = line.strip_prefix('[') {
            section = header.trim_matches(|c| c == '[' || c == ']').to_owned();
        } else if let Some((key, _)) = line.split_once(" = ")
            && !key.contains(' ')
        {
            documented.insert(
                format!("{section}.{key}")
                    .trim_start_matches('.')
                    .to_owned(),
            );
        }
    }

    let full = Settings::every_key_set();
    let table: toml::Table = toml::from_str(&toml::to_string(&full).unwrap()).unwrap();
    let mut missing = Vec::new();
    collect_leaf_keys(&table, "", &mut |key| {
        if !documented.contains(&key) {
            missing.push(key);
        }
    });
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
}

fn collect_leaf_keys(table: &toml::Table, prefix: &str, found: &mut dyn FnMut(String)) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => collect_leaf_keys(inner, &path, found),
            toml::Value::Array(items)
                if items.iter().all(toml::Value::is_table) && !items.is_empty() =>
            {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        collect_leaf_keys(inner, &path, found);
                    }
                }
            }
            _ => found(path),
        }
    }
}

// ---- case is preserved ----

#[test]
fn derive_keys_and_column_names_keep_their_case() {
    let settings = load(
        "[data]\ntarget = \"HighAmount\"\nnumeric = [\"Transaction_Amount\"]\n\
         [data.derive.HighAmount]\nfrom = \"Transaction_Amount\"\nrule = \"quantile_at_least\"\n\
         value = 0.95\n",
        &[],
    )
    .unwrap();
    let data = settings.data();
    assert_eq!(data.target.as_deref(), Some("HighAmount"));
    assert_eq!(data.numeric, ["Transaction_Amount"]);
    assert_eq!(
        data.derive.get("HighAmount"),
        Some(&DeriveRule {
            from: "Transaction_Amount".into(),
            rule: DeriveRuleKind::QuantileAtLeast,
            value: DeriveValue::Number(0.95),
        })
    );
    assert_eq!(data.derive.len(), 1);
}

#[test]
fn csv_reading_limits_and_thousands_separator_are_checked() {
    let found = problems(
        "[data]\nmax_quoted_field_lines = 0\nmax_quoted_field_bytes = 0\nthousands_separator = \".\"\n",
        &[],
    );
    let keys: BTreeSet<_> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "data.max_quoted_field_lines",
            "data.max_quoted_field_bytes",
            "data.thousands_separator",
        ])
    );
    assert_eq!(
        problem_for(&found, "data.thousands_separator").value,
        "\".\""
    );
    let settings = load("[data]\nthousands_separator = \",\"\n", &[]).unwrap();
    assert_eq!(settings.data().thousands_separator, Some(','));
}

// ---- [monitor.drift] ----

#[test]
fn drift_thresholds_out_of_range_are_each_named() {
    let found = problems(
        "[monitor.drift]\nks_p_value = 1.0\nchi2_p_value = 0.0\nwasserstein_norm = -0.1\n\
         jensen_shannon = 1.5\ndataset_drift_share = 0.0\np_value_max_reference_rows = 0\n\
         [monitor.drift.column_thresholds]\nincome = -1.0\n",
        &[],
    );
    for key in [
        "monitor.drift.ks_p_value",
        "monitor.drift.chi2_p_value",
        "monitor.drift.wasserstein_norm",
        "monitor.drift.jensen_shannon",
        "monitor.drift.dataset_drift_share",
        "monitor.drift.p_value_max_reference_rows",
        "monitor.drift.column_thresholds.income",
    ] {
        problem_for(&found, key);
    }
    assert_eq!(found.len(), 7, "{found:?}");
}

// ---- [monitor.alerts] ----

#[test]
fn alert_rules_in_a_file_replace_the_default_list_and_bad_ones_are_named() {
    let settings = load(
        "[[monitor.alerts.rules]]\nname = \"Slow\"\nmetric = \"latency_p50_ms\"\nwindow = \"1h\"\n\
         comparison = \">=\"\nthreshold = 3.0\nseverity = \"info\"\n",
        &[],
    )
    .unwrap();
    let rules = &settings.monitor().alerts.rules;
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].name, "Slow");
    assert_eq!(rules[0].window, finbeh_config::AlertWindow::OneHour);
    assert_eq!(rules[0].comparison, finbeh_config::AlertComparison::AtLeast);
    assert_eq!((rules[0].for_minutes, rules[0].cooldown_minutes), (0, 0));

    let found = problems(
        "[monitor.alerts]\nwebhook_url = \"https://hooks.example\"\n\
         [[monitor.alerts.rules]]\nname = \"9lives\"\nmetric = \"error_rate\"\nwindow = \"5m\"\n\
         comparison = \">\"\nthreshold = 5.0\nseverity = \"critical\"\n\
         [[monitor.alerts.rules]]\nname = \"A\"\nmetric = \"requests\"\nwindow = \"5m\"\n\
         comparison = \"<\"\nthreshold = 1.0\nseverity = \"info\"\nfor_minutes = 20000\n",
        &[],
    );
    let text: Vec<String> = found.iter().map(ToString::to_string).collect();
    for expected in [
        "monitor.alerts.webhook_url = \"https://hooks.example\": must be an http:// URL",
        "monitor.alerts.rules[0].name = \"9lives\": must be a Prometheus alert name",
        "monitor.alerts.rules[0].threshold = 5: must be in [0, 1] for a rate",
        "monitor.alerts.rules[1].for_minutes = 20000: must be 0..=10080",
    ] {
        assert!(
            text.iter().any(|t| t.starts_with(expected)),
            "{expected} not in {text:#?}"
        );
    }
}

// ---- [deploy.rollout] and the local endpoint ----

#[test]
fn rollout_steps_are_an_increasing_integer_list_ending_at_100() {
    let valid = load("", &[("FINBEH__DEPLOY__ROLLOUT__STEPS", "25,100")]).unwrap();
    assert_eq!(valid.deploy().rollout.steps, vec![25, 100]);

    let found = problems(
        "[deploy.rollout]\nsteps = [50, 10]\nmax_error_rate = 2.0\nmax_p99_ms = 0.0\n",
        &[],
    );
    assert!(
        problem_for(&found, "deploy.rollout.steps")
            .expected
            .contains("increasing")
    );
    problem_for(&found, "deploy.rollout.max_error_rate");
    problem_for(&found, "deploy.rollout.max_p99_ms");

    let typed = problems("[deploy.rollout]\nsteps = [\"10\"]\n", &[]);
    assert_eq!(
        problem_for(&typed, "deploy.rollout.steps").expected,
        "expected an array of integers"
    );
    let env = problems("", &[("FINBEH__DEPLOY__ROLLOUT__STEPS", "10,half")]);
    problem_for(&env, "deploy.rollout.steps");
}

#[test]
fn local_router_port_differs_from_the_slots() {
    let found = problems("[deploy.local]\nport = 5101\n", &[]);
    assert!(
        problem_for(&found, "deploy.local.port")
            .expected
            .contains("must differ")
    );
}

#[test]
fn workflow_rules_are_checked() {
    let ok = load("[workflow]\ntraffic_records = 500\n", &[]).unwrap();
    assert_eq!(ok.workflow().traffic_records, 500);
    assert_eq!(ok.workflow().traffic_concurrency, 4);
    let found = problems(
        "[workflow]\ntraffic_records = 0\ntraffic_concurrency = 1000\nrollout_soak_seconds = -1.0\n",
        &[],
    );
    assert_eq!(
        problem_for(&found, "workflow.traffic_records").to_string(),
        "workflow.traffic_records = 0: must be 1..=1000000"
    );
    assert_eq!(
        problem_for(&found, "workflow.traffic_concurrency").value,
        "1000"
    );
    assert_eq!(
        problem_for(&found, "workflow.rollout_soak_seconds").value,
        "-1"
    );
}
