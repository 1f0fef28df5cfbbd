//! An in-process fake of Azure Resource Manager for Microsoft.MachineLearningServices: the
//! contract finbeh's Azure target relies on, not a simulator of Azure. PUTs of endpoints and
//! deployments answer 201 + `Azure-AsyncOperation` (polled: `InProgress`, then the result);
//! DELETEs and regenerateKeys answer 202 + `Location` (202 once, then 200); failures carry
//! Azure's error body; the first GET of an endpoint is throttled (429 + `Retry-After: 1`).
//! A deployment really runs finbeh-serve's `app()` on the model downloaded from Azurite through
//! the model version's `modelUri`; a model that does not load fails the deployment as Azure does
//! (`ResourceNotReady: User container has crashed or terminated`) with a container log.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use finbeh_serve::{AppState, ServerParams, artifact_loader};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::azurite::{ACCOUNT, ACCOUNT_KEY, Azurite, read_blob};

pub const TOKEN: &str = "test-arm-token";
pub const SUBSCRIPTION: &str = "00000000-1111-2222-3333-444444444444";
pub const GROUP: &str = "rg-test";
pub const WORKSPACE: &str = "mlw-test";
pub const CONTAINER: &str = "azureml-blobstore-test";
pub const API_VERSION: &str = "2025-12-01";

/// Lines of start-up log a failing container prints before its error (more than the tail).
const CRASH_LOG_LINES: usize = 150;

#[derive(Default)]
struct Endpoint {
    traffic: BTreeMap<String, u64>,
    mirror: BTreeMap<String, u64>,
    keys: (String, String),
    key_generation: u32,
    /// `Key` or `AMLToken`: what the scoring URI accepts.
    auth_mode: String,
}

struct Deployment {
    state: &'static str,
    body: Value,
    app: Option<Router>,
    log: Vec<String>,
}

enum Operation {
    Async {
        polls: u32,
        error: Option<Value>,
    },
    Location {
        polls: u32,
        then: Box<dyn FnOnce(&mut World) + Send>,
    },
}

#[derive(Default)]
struct World {
    endpoints: HashMap<String, Endpoint>,
    deployments: BTreeMap<(String, String), Deployment>,
    models: BTreeMap<String, BTreeMap<String, Value>>,
    environments: BTreeMap<String, Value>,
    operations: HashMap<u64, Operation>,
    next_op: u64,
    throttled_once: bool,
    /// Every request: `METHOD path`, with status.
    pub journal: Vec<(String, u16)>,
    route_counter: u64,
}

#[derive(Clone)]
pub struct FakeArm {
    world: Arc<Mutex<World>>,
    base: String,
    blob_service: String,
    models_dir: Arc<tempfile::TempDir>,
}

impl FakeArm {
    /// Starts the fake on a free loopback port; its datastore points at `azurite`.
    pub async fn start(azurite: &Azurite) -> (Self, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = Self {
            world: Arc::default(),
            base,
            blob_service: azurite.service_url(),
            models_dir: Arc::new(tempfile::tempdir().unwrap()),
        };
        let app = Router::new().fallback(handle).with_state(fake.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (fake, server)
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Requests seen, as `METHOD path status`.
    pub fn journal(&self) -> Vec<String> {
        let world = self.world.lock().unwrap();
        world
            .journal
            .iter()
            .map(|(r, s)| format!("{r} {s}"))
            .collect()
    }
}

fn workspace_prefix() -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}/"
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message, "details": []}});
    (status, axum::Json(body)).into_response()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn with_header(mut response: Response, name: &'static str, value: String) -> Response {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_str(&value).unwrap());
    response
}

async fn handle(
    State(fake): State<FakeArm>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let response = if let Some(rest) = path.strip_prefix("/endpoints/") {
        let (endpoint, route) = rest.split_once('/').unwrap_or((rest, ""));
        match (&method, route) {
            (&Method::POST, "score") | (&Method::GET, "swagger.json") => {
                score(&fake, endpoint, &method, route, &headers, body).await
            }
            // Azure ML routes scoring and the OpenAPI document to clients, not the probes.
            _ => error(StatusCode::NOT_FOUND, "NotFound", "no such route"),
        }
    } else {
        arm(&fake, &method, &uri, &headers, body).await
    };
    let mut world = fake.world.lock().unwrap();
    world
        .journal
        .push((format!("{method} {path}"), response.status().as_u16()));
    response
}

async fn arm(
    fake: &FakeArm,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {TOKEN}")) {
        return error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "no valid bearer token",
        );
    }
    let path = uri.path();
    if let Some(id) = path.strip_prefix("/operations/") {
        return poll(fake, id.parse().unwrap_or(0));
    }
    let query = uri.query().unwrap_or("");
    if !query.contains(&format!("api-version={API_VERSION}")) {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersion",
            "api-version missing or unsupported",
        );
    }
    let Some(rest) = path.strip_prefix(&workspace_prefix()) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "not under the workspace",
        );
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let parts: Vec<&str> = rest.split('/').collect();
    let full_id = format!(
        "{}{rest}",
        workspace_prefix().trim_end_matches('/').to_owned() + "/"
    );
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["datastores", "workspaceblobstore"]) => json_response(
            StatusCode::OK,
            json!({"name": "workspaceblobstore", "properties": {
                "datastoreType": "AzureBlob", "accountName": ACCOUNT, "containerName": CONTAINER,
                "endpoint": "core.windows.net", "protocol": "https",
                "credentials": {"credentialsType": "AccountKey"}, "isDefault": true}}),
        ),
        ("POST", ["datastores", "workspaceblobstore", "listSecrets"]) => json_response(
            StatusCode::OK,
            json!({"secretsType": "AccountKey", "key": ACCOUNT_KEY}),
        ),
        ("GET", ["models"]) => {
            let world = fake.world.lock().unwrap();
            let value: Vec<Value> = world.models.keys().map(|n| json!({"name": n})).collect();
            json_response(StatusCode::OK, json!({"value": value}))
        }
        ("PUT", ["models", name]) => {
            let mut world = fake.world.lock().unwrap();
            world.models.entry((*name).to_owned()).or_default();
            json_response(
                StatusCode::OK,
                json!({"id": full_id, "name": name, "properties": body["properties"]}),
            )
        }
        ("GET", ["models", name, "versions"]) => {
            let world = fake.world.lock().unwrap();
            let value: Vec<Value> = world
                .models
                .get(*name)
                .map(|v| v.values().cloned().collect())
                .unwrap_or_default();
            json_response(StatusCode::OK, json!({"value": value}))
        }
        ("PUT", ["models", name, "versions", version]) => {
            let mut world = fake.world.lock().unwrap();
            let Some(versions) = world.models.get_mut(*name) else {
                return error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    "model container missing",
                );
            };
            let stored = json!({"id": full_id, "name": version, "properties": body["properties"]});
            versions.insert((*version).to_owned(), stored.clone());
            json_response(StatusCode::CREATED, stored)
        }
        ("GET", ["models", name, "versions", version]) => {
            let world = fake.world.lock().unwrap();
            match world.models.get(*name).and_then(|v| v.get(*version)) {
                Some(found) => json_response(StatusCode::OK, found.clone()),
                None => error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    "no such model version",
                ),
            }
        }
        ("PUT", ["environments", name, "versions", version]) => {
            let image = body
                .pointer("/properties/image")
                .cloned()
                .unwrap_or(Value::Null);
            let routes = body.pointer("/properties/inferenceConfig").cloned();
            if image.is_null() || routes.is_none() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadArgument",
                    "image and inferenceConfig are required",
                );
            }
            let stored = json!({"id": full_id, "name": version, "properties": body["properties"]});
            let mut world = fake.world.lock().unwrap();
            world
                .environments
                .insert(format!("{name}/{version}"), stored.clone());
            json_response(StatusCode::CREATED, stored)
        }
        (_, ["onlineEndpoints", endpoint, rest @ ..]) => {
            online(fake, method, endpoint, rest, &body, &full_id).await
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("{method} {rest}"),
        ),
    }
}

fn endpoint_json(fake: &FakeArm, name: &str, endpoint: &Endpoint) -> Value {
    json!({
        "id": format!("{}onlineEndpoints/{name}", workspace_prefix()),
        "name": name,
        "properties": {
            "provisioningState": "Succeeded",
            "authMode": "Key",
            // Azure's host per endpoint (`https://NAME.REGION.inference.ml.azure.com/score`) is
            // a path prefix here.
            "scoringUri": format!("{}/endpoints/{name}/score", fake.base),
            "openApiUri": format!("{}/endpoints/{name}/swagger.json", fake.base),
            "traffic": endpoint.traffic,
            "mirrorTraffic": endpoint.mirror,
        }
    })
}

fn deployment_json(name: &str, deployment: &Deployment) -> Value {
    let mut body = deployment.body.clone();
    body["name"] = json!(name);
    body["properties"]["provisioningState"] = json!(deployment.state);
    body
}

fn new_operation(world: &mut World, operation: Operation) -> u64 {
    world.next_op += 1;
    world.operations.insert(world.next_op, operation);
    world.next_op
}

fn accepted_async(fake: &FakeArm, id: u64, body: Value) -> Response {
    let response = json_response(StatusCode::CREATED, body);
    let response = with_header(
        response,
        "azure-asyncoperation",
        format!("{}/operations/{id}", fake.base),
    );
    with_header(response, "retry-after", "0".to_owned())
}

fn accepted_location(fake: &FakeArm, id: u64) -> Response {
    let response = StatusCode::ACCEPTED.into_response();
    let response = with_header(
        response,
        "location",
        format!("{}/operations/{id}", fake.base),
    );
    with_header(response, "retry-after", "0".to_owned())
}

async fn online(
    fake: &FakeArm,
    method: &Method,
    endpoint: &str,
    rest: &[&str],
    body: &Value,
    full_id: &str,
) -> Response {
    let ep = endpoint.to_owned();
    match (method.as_str(), rest) {
        ("GET", []) => {
            let mut world = fake.world.lock().unwrap();
            if !world.throttled_once {
                world.throttled_once = true;
                let response = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "throttled",
                );
                return with_header(response, "retry-after", "1".to_owned());
            }
            match world.endpoints.get(&ep) {
                Some(found) => json_response(StatusCode::OK, endpoint_json(fake, &ep, found)),
                None => error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    "no such endpoint",
                ),
            }
        }
        ("PUT", []) => {
            let mut world = fake.world.lock().unwrap();
            let percent = |field: &str| -> BTreeMap<String, u64> {
                body.pointer(&format!("/properties/{field}"))
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (traffic, mirror) = (percent("traffic"), percent("mirrorTraffic"));
            let total: u64 = traffic.values().sum();
            if total != 0 && total != 100 {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadArgument",
                    "Traffic must sum to 0 or 100",
                );
            }
            let exists = world.endpoints.contains_key(&ep);
            let found = world
                .endpoints
                .entry(ep.clone())
                .or_insert_with(|| Endpoint {
                    keys: ("primary-0".to_owned(), "secondary-0".to_owned()),
                    ..Endpoint::default()
                });
            found.traffic = traffic;
            found.mirror = mirror;
            found.auth_mode = body
                .pointer("/properties/authMode")
                .and_then(Value::as_str)
                .unwrap_or("Key")
                .to_owned();
            let json = endpoint_json(fake, &ep, found);
            let id = new_operation(
                &mut world,
                Operation::Async {
                    polls: 1,
                    error: None,
                },
            );
            if exists {
                let response = json_response(StatusCode::OK, json);
                with_header(
                    response,
                    "azure-asyncoperation",
                    format!("{}/operations/{id}", fake.base),
                )
            } else {
                accepted_async(fake, id, json)
            }
        }
        ("DELETE", []) => {
            let mut world = fake.world.lock().unwrap();
            if !world.endpoints.contains_key(&ep) {
                return StatusCode::NO_CONTENT.into_response();
            }
            let then = Box::new(move |world: &mut World| {
                world.endpoints.remove(&ep);
                world.deployments.retain(|(e, _), _| *e != ep);
            });
            let id = new_operation(&mut world, Operation::Location { polls: 1, then });
            accepted_location(fake, id)
        }
        ("POST", ["listKeys"]) => {
            let world = fake.world.lock().unwrap();
            match world.endpoints.get(&ep) {
                Some(found) => json_response(
                    StatusCode::OK,
                    json!({"primaryKey": found.keys.0, "secondaryKey": found.keys.1}),
                ),
                None => error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    "no such endpoint",
                ),
            }
        }
        ("POST", ["regenerateKeys"]) => {
            let which = body
                .get("keyType")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let mut world = fake.world.lock().unwrap();
            let then = Box::new(move |world: &mut World| {
                if let Some(found) = world.endpoints.get_mut(&ep) {
                    found.key_generation += 1;
                    let g = found.key_generation;
                    match which.as_str() {
                        "Primary" => found.keys.0 = format!("primary-{g}"),
                        _ => found.keys.1 = format!("secondary-{g}"),
                    }
                }
            });
            let id = new_operation(&mut world, Operation::Location { polls: 1, then });
            accepted_location(fake, id)
        }
        ("POST", ["token"]) => json_response(
            StatusCode::OK,
            json!({"accessToken": "aml-token", "tokenType": "Bearer", "expiryTimeUtc": 0}),
        ),
        ("GET", ["deployments"]) => {
            let world = fake.world.lock().unwrap();
            let value: Vec<Value> = world
                .deployments
                .iter()
                .filter(|((e, _), _)| *e == ep)
                .map(|((_, d), dep)| deployment_json(d, dep))
                .collect();
            json_response(StatusCode::OK, json!({"value": value}))
        }
        ("GET", ["deployments", name]) => {
            let world = fake.world.lock().unwrap();
            match world.deployments.get(&(ep, (*name).to_owned())) {
                Some(found) => json_response(StatusCode::OK, deployment_json(name, found)),
                None => error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    "no such deployment",
                ),
            }
        }
        ("PUT", ["deployments", name]) => create_deployment(fake, &ep, name, body, full_id).await,
        ("DELETE", ["deployments", name]) => {
            let key = (ep, (*name).to_owned());
            let mut world = fake.world.lock().unwrap();
            if !world.deployments.contains_key(&key) {
                return StatusCode::NO_CONTENT.into_response();
            }
            let then = Box::new(move |world: &mut World| {
                world.deployments.remove(&key);
            });
            let id = new_operation(&mut world, Operation::Location { polls: 1, then });
            accepted_location(fake, id)
        }
        ("POST", ["deployments", name, "getLogs"]) => {
            let tail = body.get("tail").and_then(Value::as_u64).unwrap_or(0) as usize;
            let world = fake.world.lock().unwrap();
            match world.deployments.get(&(ep, (*name).to_owned())) {
                Some(found) => {
                    let start = found.log.len().saturating_sub(tail);
                    json_response(
                        StatusCode::OK,
                        json!({"content": found.log[start..].join("\n")}),
                    )
                }
                None => error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    "no such deployment",
                ),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "unknown endpoint operation",
        ),
    }
}

/// Checks the deployment body against the contract, downloads the model from Azurite through
/// its `modelUri` and starts finbeh-serve on it.
async fn create_deployment(
    fake: &FakeArm,
    endpoint: &str,
    name: &str,
    body: &Value,
    full_id: &str,
) -> Response {
    let props = &body["properties"];
    for field in [
        "model",
        "environmentId",
        "instanceType",
        "requestSettings",
        "livenessProbe",
        "readinessProbe",
    ] {
        if props.get(field).is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                "BadArgument",
                &format!("properties.{field} is required"),
            );
        }
    }
    if props["endpointComputeType"] != "Managed"
        || body.pointer("/sku/name") != Some(&json!("Default"))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "BadArgument",
            "a managed deployment with sku Default",
        );
    }
    let model_id = props["model"].as_str().unwrap_or_default().to_owned();
    let uri = {
        let world = fake.world.lock().unwrap();
        let parts: Vec<&str> = model_id.rsplit('/').collect();
        match parts.as_slice() {
            [version, "versions", model, ..] => world
                .models
                .get(*model)
                .and_then(|v| v.get(*version))
                .and_then(|m| m.pointer("/properties/modelUri"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        }
    };
    let Some(uri) = uri else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadArgument",
            &format!("model {model_id} does not exist"),
        );
    };
    let blob = uri.split("/paths/").nth(1).unwrap_or_default().to_owned();
    let dir = fake.models_dir.path().join(format!("{endpoint}-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = read_blob(&fake.blob_service, &format!("{CONTAINER}/{blob}")).await;
    std::fs::write(dir.join("model.finbeh"), &bytes).unwrap();

    // An image tagged `:skewed` stands for a finbeh-serve too old for the artifact (the seed's
    // scikit-learn 1.7 → 1.0 outage): its container cannot load any model.
    let environment_id = props["environmentId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let skewed = {
        let world = fake.world.lock().unwrap();
        world
            .environments
            .values()
            .find(|e| e["id"] == environment_id.as_str())
            .and_then(|e| e.pointer("/properties/image"))
            .and_then(Value::as_str)
            .is_some_and(|image| image.ends_with(":skewed"))
    };
    if skewed {
        std::fs::write(
            dir.join("model.finbeh"),
            b"FINBEH-ARTIFACT written by a newer finbeh",
        )
        .unwrap();
    }
    let state = AppState::new(ServerParams::default().check().unwrap(), artifact_loader());
    let mut log: Vec<String> = (0..CRASH_LOG_LINES)
        .map(|i| format!("startup line {i}: AZUREML_MODEL_DIR={}", dir.display()))
        .collect();
    let (deployment_state, app, failure) = match state.load(None, Some(&dir)) {
        Ok(path) => {
            log.push(format!(
                "finbeh-serve: model loaded from {}",
                path.display()
            ));
            ("Succeeded", Some(finbeh_serve::app(state)), None)
        }
        Err(e) => {
            let message = format!("ERROR finbeh-serve: {e}");
            log.extend(message.lines().map(str::to_owned));
            log.push("process exited with code 1".to_owned());
            let error = json!({"code": "ResourceNotReady",
                "message": "User container has crashed or terminated.",
                "details": [{"code": "ContainerCrash", "message": "Liveness probe failed"}]});
            ("Failed", None, Some(error))
        }
    };
    let mut stored = body.clone();
    stored["id"] = json!(full_id);
    let mut world = fake.world.lock().unwrap();
    world.deployments.insert(
        (endpoint.to_owned(), name.to_owned()),
        Deployment {
            state: deployment_state,
            body: stored.clone(),
            app,
            log,
        },
    );
    let id = new_operation(
        &mut world,
        Operation::Async {
            polls: 1,
            error: failure,
        },
    );
    stored["name"] = json!(name);
    stored["properties"]["provisioningState"] = json!("Creating");
    accepted_async(fake, id, stored)
}

fn poll(fake: &FakeArm, id: u64) -> Response {
    let mut world = fake.world.lock().unwrap();
    let Some(operation) = world.operations.remove(&id) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "no such operation",
        );
    };
    match operation {
        Operation::Async { polls, error } if polls > 0 => {
            world.operations.insert(
                id,
                Operation::Async {
                    polls: polls - 1,
                    error,
                },
            );
            let response = json_response(StatusCode::OK, json!({"status": "InProgress"}));
            with_header(response, "retry-after", "0".to_owned())
        }
        Operation::Async { error: None, .. } => {
            json_response(StatusCode::OK, json!({"status": "Succeeded"}))
        }
        Operation::Async {
            error: Some(error), ..
        } => json_response(StatusCode::OK, json!({"status": "Failed", "error": error})),
        Operation::Location { polls, then } if polls > 0 => {
            world.operations.insert(
                id,
                Operation::Location {
                    polls: polls - 1,
                    then,
                },
            );
            accepted_location(fake, id)
        }
        Operation::Location { then, .. } => {
            then(&mut world);
            StatusCode::OK.into_response()
        }
    }
}

/// The scoring URI (`POST score`) and the OpenAPI document (`GET swagger.json`): key auth, pin
/// header or weighted routing, finbeh-serve answers.
async fn score(
    fake: &FakeArm,
    endpoint: &str,
    method: &Method,
    route: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let app = {
        let mut world = fake.world.lock().unwrap();
        let Some(found) = world.endpoints.get(endpoint) else {
            return error(StatusCode::NOT_FOUND, "NotFound", "no such endpoint");
        };
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let key = bearer.strip_prefix("Bearer ").unwrap_or("");
        let accepted = match found.auth_mode.as_str() {
            "AMLToken" => key == "aml-token",
            _ => key == found.keys.0 || key == found.keys.1,
        };
        if !accepted {
            return error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "invalid key or token",
            );
        }
        let pinned = headers
            .get("azureml-model-deployment")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let traffic = found.traffic.clone();
        let chosen = match pinned {
            Some(name) => Some(name),
            None => {
                world.route_counter += 1;
                let slot = world.route_counter % 100;
                let mut cumulative = 0;
                traffic.iter().find_map(|(name, &p)| {
                    cumulative += p;
                    (slot < cumulative).then(|| name.clone())
                })
            }
        };
        let Some(chosen) = chosen else {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "NoTraffic",
                "no deployment takes traffic",
            );
        };
        match world
            .deployments
            .get(&(endpoint.to_owned(), chosen.clone()))
        {
            Some(Deployment { app: Some(app), .. }) => (chosen, app.clone()),
            _ => return error(StatusCode::NOT_FOUND, "DeploymentNotFound", &chosen),
        }
    };
    let (name, app) = app;
    let request = axum::http::Request::builder()
        .method(method.clone())
        .uri(format!("/{route}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    with_header(response, "azureml-model-deployment", name)
}
