//! Loopback Azure Resource Manager and Key Vault (data plane) with real state:
//! resources with IDs and tags, paged listings (`nextLink`), ARM deployments with
//! outputs, AKS credentials, DNS record sets and NSG rules that are created (201) then
//! updated (200), a long-running rule that is `Updating` until polled, Key Vault's 401
//! challenge, and injected faults (401/403/404/429 + `Retry-After`/5xx) per call.
//!
//! Every body the mock accepts or builds is validated against the official schemas in
//! `shared/specs/azure-arm/*` and `azure-keyvault/secrets.subset.json`, and every call's
//! `api-version` must be the spec's. A mismatch is answered 400 and recorded; tests end
//! with [`ArmMock::assert_valid`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::entra::{TENANT, TokenBook};
use super::spec::spec;

pub const SUBSCRIPTION: &str = "99999999-9999-9999-9999-999999999999";

/// (provider/type, spec file, definition, api-version).
const KINDS: &[(&str, &str, &str, &str)] = &[
    (
        "microsoft.containerregistry/registries",
        "azure-arm/containerregistry/containerregistry.subset.json",
        "Registry",
        "2025-11-01",
    ),
    (
        "microsoft.containerservice/managedclusters",
        "azure-arm/aks/aks.subset.json",
        "ManagedCluster",
        "2026-08-01",
    ),
    (
        "microsoft.keyvault/vaults",
        "azure-arm/keyvault/keyvault.subset.json",
        "Vault",
        "2026-02-01",
    ),
    (
        "microsoft.network/applicationgateways",
        "azure-arm/network/network.subset.json",
        "ApplicationGateway",
        "2026-01-01",
    ),
    (
        "microsoft.network/publicipaddresses",
        "azure-arm/network/network.subset.json",
        "PublicIPAddress",
        "2026-01-01",
    ),
    (
        "microsoft.network/networksecuritygroups",
        "azure-arm/network/network.subset.json",
        "NetworkSecurityGroup",
        "2026-01-01",
    ),
    (
        "microsoft.network/dnszones",
        "azure-arm/dns/dns.subset.json",
        "RecordSet",
        "2018-05-01",
    ),
    (
        "microsoft.resources/deployments",
        "azure-arm/resources/resources.subset.json",
        "DeploymentExtended",
        "2026-09-01",
    ),
];

fn kind(
    provider_type: &str,
) -> Option<&'static (&'static str, &'static str, &'static str, &'static str)> {
    KINDS
        .iter()
        .find(|k| k.0.eq_ignore_ascii_case(provider_type))
}

/// An answer to give instead of the real one.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<Method>,
    pub path_contains: String,
    pub status: u16,
    pub retry_after: Option<u64>,
    /// How many calls it answers (u32::MAX: all).
    pub times: u32,
    pub body: Value,
}

#[derive(Default)]
pub struct ArmData {
    /// Lower-case resource ID -> (type as ARM spells it, body, listed in its group).
    pub resources: BTreeMap<String, (String, Value, bool)>,
    /// Resource groups that exist.
    pub groups: Vec<String>,
    pub secrets: BTreeMap<String, (String, String)>,
    pub vault_forbidden: bool,
    /// The `resource` the vault's 401 challenge names; `None`: the vault's own URL (the
    /// public cloud's vaults name `https://vault.azure.net`, their parent domain; a
    /// loopback vault has no parent domain, so it names itself).
    pub vault_resource: Option<String>,
    pub faults: Vec<Fault>,
    pub page_size: usize,
    /// `METHOD path` of every call, in order.
    pub calls: Vec<String>,
    pub violations: Vec<String>,
    pub put_bodies: Vec<(String, Value)>,
}

pub struct ArmState {
    pub book: Arc<TokenBook>,
    pub url: Mutex<String>,
    pub vault_url: Mutex<String>,
    pub authority: String,
    pub data: Mutex<ArmData>,
}

pub struct ArmMock {
    pub url: String,
    pub vault_url: String,
    pub state: Arc<ArmState>,
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn arm_error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    spec("azure-arm/network/network.subset.json")
        .check("#/definitions/CloudError", &body)
        .unwrap();
    json_response(StatusCode::from_u16(status).unwrap(), &body)
}

impl ArmMock {
    pub async fn start(book: Arc<TokenBook>, authority: &str) -> ArmMock {
        let state = Arc::new(ArmState {
            book,
            url: Default::default(),
            vault_url: Default::default(),
            authority: authority.to_string(),
            data: Mutex::new(ArmData {
                page_size: 100,
                ..Default::default()
            }),
        });
        let url = serve(
            axum::Router::new()
                .fallback(handle)
                .with_state(state.clone()),
        )
        .await;
        let vault_url = serve(
            axum::Router::new()
                .fallback(vault)
                .with_state(state.clone()),
        )
        .await;
        *state.url.lock().unwrap() = url.clone();
        *state.vault_url.lock().unwrap() = vault_url.clone();
        ArmMock {
            url,
            vault_url,
            state,
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut ArmData) -> T) -> T {
        f(&mut self.state.data.lock().unwrap())
    }

    pub fn assert_valid(&self) {
        let d = self.state.data.lock().unwrap();
        assert!(
            d.violations.is_empty(),
            "requests that broke the spec: {:#?}",
            d.violations
        );
    }

    pub fn calls(&self) -> Vec<String> {
        self.with(|d| d.calls.clone())
    }

    pub fn rg_id(rg: &str) -> String {
        format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}")
    }

    /// Adds a resource; its body is validated against its schema first.
    pub fn add(
        &self,
        rg: &str,
        provider_type: &str,
        name: &str,
        tags: Value,
        mut body: Value,
    ) -> String {
        let (_, file, def, _) = kind(provider_type).expect("a known kind");
        let id = format!("{}/providers/{provider_type}/{name}", Self::rg_id(rg));
        let o = body.as_object_mut().unwrap();
        o.insert("id".into(), json!(id));
        o.insert("name".into(), json!(name));
        o.insert("type".into(), json!(provider_type));
        o.entry("location").or_insert(json!("japaneast"));
        if !tags.is_null() {
            o.insert("tags".into(), tags);
        }
        spec(file)
            .check(&format!("#/definitions/{def}"), &body)
            .unwrap_or_else(|e| panic!("the mock's own {provider_type} body: {e}"));
        self.with(|d| {
            if !d.groups.iter().any(|g| g.eq_ignore_ascii_case(rg)) {
                d.groups.push(rg.to_string());
            }
            d.resources.insert(
                id.to_ascii_lowercase(),
                (provider_type.to_string(), body, true),
            )
        });
        id
    }

    pub fn add_group(&self, rg: &str) {
        self.with(|d| d.groups.push(rg.to_string()));
    }

    pub fn add_registry(&self, rg: &str, name: &str, tags: Value) -> String {
        self.add(
            rg,
            "Microsoft.ContainerRegistry/registries",
            name,
            tags,
            json!({"sku": {"name": "Basic", "tier": "Basic"}, "properties": {"loginServer": format!("{name}.azurecr.io"), "provisioningState": "Succeeded", "adminUserEnabled": false}}),
        )
    }

    /// An AKS cluster; `entra_id`: Entra ID integration with local accounts disabled.
    pub fn add_cluster(&self, rg: &str, name: &str, tags: Value, entra_id: bool) -> String {
        let mut props = json!({"fqdn": format!("{name}-dns.hcp.japaneast.azmk8s.io"), "kubernetesVersion": "1.33.2", "enableRBAC": true, "provisioningState": "Succeeded"});
        if entra_id {
            props["aadProfile"] =
                json!({"managed": true, "enableAzureRBAC": true, "tenantID": TENANT});
            props["disableLocalAccounts"] = json!(true);
        }
        self.add(
            rg,
            "Microsoft.ContainerService/managedClusters",
            name,
            tags,
            json!({"properties": props, "sku": {"name": "Base", "tier": "Free"}}),
        )
    }

    pub fn add_vault(&self, rg: &str, name: &str, tags: Value) -> String {
        let uri = format!("{}/", self.vault_url);
        self.add_vault_at(rg, name, tags, &uri)
    }

    /// A vault whose `vaultUri` is `uri`.
    pub fn add_vault_at(&self, rg: &str, name: &str, tags: Value, uri: &str) -> String {
        self.add(
            rg,
            "Microsoft.KeyVault/vaults",
            name,
            tags,
            json!({"properties": {"tenantId": TENANT, "sku": {"family": "A", "name": "standard"}, "vaultUri": uri, "enableRbacAuthorization": true, "provisioningState": "Succeeded"}}),
        )
    }

    pub fn add_secret(&self, name: &str, value: &str) {
        let version = uuid::Uuid::new_v4().simple().to_string();
        self.with(|d| {
            d.secrets
                .insert(name.to_string(), (value.to_string(), version))
        });
    }

    /// A DNS zone: listed in its group, its SOA record set readable.
    pub fn add_zone(&self, rg: &str, zone: &str, tags: Value) -> String {
        let id = format!(
            "{}/providers/Microsoft.Network/dnszones/{zone}",
            Self::rg_id(rg)
        );
        let mut body = json!({"id": id, "name": zone, "type": "Microsoft.Network/dnszones", "location": "global"});
        if !tags.is_null() {
            body["tags"] = tags;
        }
        let soa_id = format!("{id}/SOA/@");
        let soa = json!({"id": soa_id, "name": "@", "type": "Microsoft.Network/dnszones/SOA", "etag": "1", "properties": {"TTL": 3600, "fqdn": format!("{zone}."), "SOARecord": {"host": "ns1-01.azure-dns.com.", "email": "azuredns-hostmaster.microsoft.com", "serialNumber": 1, "refreshTime": 3600, "retryTime": 300, "expireTime": 2419200, "minimumTTL": 300}}});
        spec("azure-arm/dns/dns.subset.json")
            .check("#/definitions/RecordSet", &soa)
            .unwrap();
        self.with(|d| {
            if !d.groups.iter().any(|g| g.eq_ignore_ascii_case(rg)) {
                d.groups.push(rg.to_string());
            }
            d.resources.insert(
                id.to_ascii_lowercase(),
                ("Microsoft.Network/dnszones".into(), body, true),
            );
            d.resources.insert(
                soa_id.to_ascii_lowercase(),
                ("Microsoft.Network/dnszones/SOA".into(), soa, false),
            );
        });
        id
    }

    /// The gateway, its public IP, and NSGs: `attached` sits on the gateway's subnet,
    /// `others` do not.
    pub fn add_gateway(
        &self,
        rg: &str,
        name: &str,
        tags: Value,
        attached: &[&str],
        others: &[&str],
    ) {
        let subnet = format!(
            "{}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/appgw",
            Self::rg_id(rg)
        );
        let pip = self.add(
            rg,
            "Microsoft.Network/publicIPAddresses",
            &format!("{name}-pip"),
            tags.clone(),
            json!({"sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static", "ipAddress": "20.48.1.10", "dnsSettings": {"domainNameLabel": name, "fqdn": format!("{name}.japaneast.cloudapp.azure.com")}, "provisioningState": "Succeeded"}}),
        );
        self.add(
            rg,
            "Microsoft.Network/applicationGateways",
            name,
            tags.clone(),
            json!({"properties": {
                "gatewayIPConfigurations": [{"name": "gw", "properties": {"subnet": {"id": subnet}}}],
                "frontendIPConfigurations": [{"name": "public", "properties": {"publicIPAddress": {"id": pip}}}],
                "provisioningState": "Succeeded", "operationalState": "Running"}}),
        );
        for n in attached {
            self.add(rg, "Microsoft.Network/networkSecurityGroups", n, tags.clone(), json!({"properties": {"subnets": [{"id": subnet}], "securityRules": [], "provisioningState": "Succeeded"}}));
        }
        for n in others {
            let other = subnet.replace("/appgw", "/aks");
            self.add(rg, "Microsoft.Network/networkSecurityGroups", n, tags.clone(), json!({"properties": {"subnets": [{"id": other}], "provisioningState": "Succeeded"}}));
        }
    }

    /// An ARM deployment whose outputs name resources.
    pub fn add_deployment(&self, rg: &str, name: &str, outputs: Value) {
        let outputs: serde_json::Map<String, Value> = outputs
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), json!({"type": "String", "value": v})))
            .collect();
        let id = format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}"
        );
        let body = json!({"id": id, "name": name, "type": "Microsoft.Resources/deployments", "properties": {"provisioningState": "Succeeded", "mode": "Incremental", "outputs": outputs, "timestamp": "2026-01-01T00:00:00Z"}});
        spec("azure-arm/resources/resources.subset.json")
            .check("#/definitions/DeploymentExtended", &body)
            .unwrap();
        self.with(|d| {
            d.resources.insert(
                id.to_ascii_lowercase(),
                ("Microsoft.Resources/deployments".into(), body, false),
            )
        });
    }

    /// The next `times` calls whose path contains `path` get `status`.
    pub fn fail(
        &self,
        method: Option<Method>,
        path: &str,
        status: u16,
        retry_after: Option<u64>,
        times: u32,
    ) {
        let (code, message) = match status {
            401 => (
                "InvalidAuthenticationToken",
                "The access token is invalid.".to_string(),
            ),
            404 => (
                "ResourceNotFound",
                "The Resource was not found.".to_string(),
            ),
            409 => ("Conflict", "Another operation is in progress.".to_string()),
            429 => ("TooManyRequests", "Rate limit exceeded.".to_string()),
            _ => ("InternalServerError", "Something went wrong.".to_string()),
        };
        self.with(|d| {
            d.faults.push(Fault {
                method,
                path_contains: path.to_string(),
                status,
                retry_after,
                times,
                body: json!({"error": {"code": code, "message": message}}),
            })
        });
    }

    /// Every call to `path` is refused as ARM refuses a missing role.
    pub fn forbid(&self, path: &str, action: &str, scope: &str) {
        let message = format!(
            "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            super::entra::CLIENT_ID,
            super::entra::CLIENT_ID
        );
        self.with(|d| {
            d.faults.push(Fault {
                method: None,
                path_contains: path.to_string(),
                status: 403,
                retry_after: None,
                times: u32::MAX,
                body: json!({"error": {"code": "AuthorizationFailed", "message": message}}),
            })
        });
    }
}

fn violation(state: &ArmState, what: String) -> Response {
    state.data.lock().unwrap().violations.push(what.clone());
    arm_error(400, "MockSpecViolation", &what)
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn take_fault(d: &mut ArmData, method: &Method, path: &str) -> Option<Response> {
    let f = d.faults.iter_mut().find(|f| {
        f.times > 0
            && path.contains(&f.path_contains)
            && f.method.as_ref().is_none_or(|m| m == method)
    })?;
    if f.times != u32::MAX {
        f.times -= 1;
    }
    let mut r = json_response(StatusCode::from_u16(f.status).unwrap(), &f.body);
    if let Some(s) = f.retry_after {
        r.headers_mut()
            .insert("retry-after", s.to_string().parse().unwrap());
    }
    Some(r)
}

async fn handle(
    State(state): State<Arc<ArmState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let q = query(&uri);
    let arm_scope = format!("{}/.default", state.url.lock().unwrap());
    {
        let mut d = state.data.lock().unwrap();
        d.calls.push(format!("{method} {path}"));
    }
    if let Err(e) = state.book.check(&headers, &arm_scope) {
        let mut r = arm_error(
            401,
            "InvalidAuthenticationToken",
            &format!("The access token is invalid: {e}."),
        );
        r.headers_mut().insert(
            "www-authenticate",
            format!(
                "Bearer authorization_uri=\"{}\", error=\"invalid_token\"",
                state.authority
            )
            .parse()
            .unwrap(),
        );
        return r;
    }
    if let Some(r) = take_fault(&mut state.data.lock().unwrap(), &method, &path) {
        return r;
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segs.len() < 4
        || segs[0] != "subscriptions"
        || !segs[2].eq_ignore_ascii_case("resourceGroups")
    {
        return violation(&state, format!("not an ARM resource-group path: {path}"));
    }
    if segs[1] != SUBSCRIPTION {
        return arm_error(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{}' could not be found.", segs[1]),
        );
    }
    let rg = segs[3];
    let group_exists = state
        .data
        .lock()
        .unwrap()
        .groups
        .iter()
        .any(|g| g.eq_ignore_ascii_case(rg));
    if !group_exists {
        return arm_error(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
        );
    }
    let api = q.get("api-version").cloned().unwrap_or_default();
    // GET .../resources: the paged listing.
    if segs.len() == 5 && segs[4] == "resources" && method == Method::GET {
        if api != "2025-04-01" {
            return violation(
                &state,
                format!("Resources_ListByResourceGroup api-version {api}"),
            );
        }
        return list(&state, rg, &path, &q);
    }
    if segs.len() < 8 || segs[4] != "providers" {
        return violation(&state, format!("unknown ARM path {method} {path}"));
    }
    let provider_type = format!("{}/{}", segs[5], segs[6]);
    let Some(&(_, file, def, version)) = kind(&provider_type) else {
        return violation(&state, format!("unknown resource type {provider_type}"));
    };
    if api != version {
        return violation(
            &state,
            format!("{provider_type} api-version {api}, the spec is {version}"),
        );
    }
    let lower = path.to_ascii_lowercase();
    let lower = lower.trim_end_matches('/');
    match (&method, segs.len()) {
        (&Method::GET, 8) => get(&state, lower, file, def),
        (&Method::POST, 9) if segs[8] == "listClusterUserCredential" => {
            credentials(&state, &lower[..lower.rfind('/').unwrap()], &q)
        }
        (&Method::GET, 10) if provider_type.eq_ignore_ascii_case("Microsoft.Network/dnsZones") => {
            get(&state, lower, file, "RecordSet")
        }
        (&Method::PUT, 10) if provider_type.eq_ignore_ascii_case("Microsoft.Network/dnsZones") => {
            put_record_set(&state, &segs, lower, &body)
        }
        (&Method::PUT, 10) if segs[8] == "securityRules" => put_rule(&state, lower, &body),
        (&Method::GET, 10) if segs[8] == "securityRules" => get_rule(&state, lower),
        _ => violation(&state, format!("unknown ARM operation {method} {path}")),
    }
}

fn list(state: &ArmState, rg: &str, path: &str, q: &BTreeMap<String, String>) -> Response {
    let d = state.data.lock().unwrap();
    let prefix = format!("{}/providers/", ArmMock::rg_id(rg)).to_ascii_lowercase();
    let mut all: Vec<Value> = d
        .resources
        .iter()
        .filter(|(id, (_, _, listed))| *listed && id.starts_with(&prefix))
        .map(|(_, (_, b, _))| {
            let mut r = json!({"id": b["id"], "name": b["name"], "type": b["type"], "location": b["location"]});
            if b["tags"].is_object() {
                r["tags"] = b["tags"].clone();
            }
            r
        })
        .collect();
    if let Some(f) = q.get("$filter") {
        // `tagName eq 'k' and tagValue eq 'v'` (tags are then left out, as ARM does).
        let parts: Vec<&str> = f.split('\'').collect();
        if f.starts_with("tagName eq") && parts.len() >= 4 {
            let (k, v) = (parts[1], parts[3]);
            all.retain(|r| r["tags"][k] == json!(v));
            for r in &mut all {
                r.as_object_mut().unwrap().remove("tags");
            }
        }
    }
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(skip).take(d.page_size).cloned().collect();
    let mut body = json!({"value": page});
    if skip + d.page_size < all.len() {
        body["nextLink"] = json!(format!(
            "{}{path}?api-version=2025-04-01&%24skiptoken={}",
            state.url.lock().unwrap(),
            skip + d.page_size
        ));
    }
    drop(d);
    if let Err(e) = spec("azure-arm/resources/resources.subset.json")
        .check("#/definitions/ResourceListResult", &body)
    {
        return violation(state, e);
    }
    json_response(StatusCode::OK, &body)
}

fn get(state: &ArmState, id: &str, file: &str, def: &str) -> Response {
    let found = state
        .data
        .lock()
        .unwrap()
        .resources
        .get(id)
        .map(|(_, b, _)| b.clone());
    match found {
        Some(b) => {
            if let Err(e) = spec(file).check(&format!("#/definitions/{def}"), &b) {
                return violation(state, e);
            }
            json_response(StatusCode::OK, &b)
        }
        None if id.contains("/microsoft.resources/deployments/") => {
            arm_error(404, "DeploymentNotFound", "Deployment could not be found.")
        }
        None => arm_error(
            404,
            "ResourceNotFound",
            &format!("The Resource '{id}' was not found."),
        ),
    }
}

fn credentials(state: &ArmState, cluster_id: &str, q: &BTreeMap<String, String>) -> Response {
    if let Some(f) = q.get("format")
        && f != "azure"
        && f != "exec"
    {
        return violation(state, format!("format {f} is not azure or exec"));
    }
    let cluster = state
        .data
        .lock()
        .unwrap()
        .resources
        .get(cluster_id)
        .map(|(_, b, _)| b.clone());
    let Some(c) = cluster else {
        return arm_error(404, "ResourceNotFound", "The Resource was not found.");
    };
    let name = c["name"].as_str().unwrap();
    let server = format!("https://{}:443", c["properties"]["fqdn"].as_str().unwrap());
    let user = if c["properties"]["aadProfile"].is_object() {
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n      args: [get-token, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]\n".to_string()
    } else {
        "    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZLW1vY2stY2x1c3Rlci11c2VyLWtleQ==\n    token: mock-cluster-user-token-3c1d\n".to_string()
    };
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: {name}\nclusters:\n- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority-data: TU9DSy1DQQ==\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: clusterUser_{name}\nusers:\n- name: clusterUser_{name}\n  user:\n{user}"
    );
    let body = json!({"kubeconfigs": [{"name": "clusterUser", "value": base64::engine::general_purpose::STANDARD.encode(kubeconfig)}]});
    if let Err(e) =
        spec("azure-arm/aks/aks.subset.json").check("#/definitions/CredentialResults", &body)
    {
        return violation(state, e);
    }
    json_response(StatusCode::OK, &body)
}

fn put_record_set(state: &ArmState, segs: &[&str], id: &str, body: &[u8]) -> Response {
    let dns = spec("azure-arm/dns/dns.subset.json");
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return violation(state, format!("RecordSet body is not JSON: {e}")),
    };
    if let Err(e) = dns.check("#/definitions/RecordSet", &v) {
        return violation(state, e);
    }
    let record_type = segs[8];
    let allowed = [
        "A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT",
    ];
    if !allowed.contains(&record_type) {
        return violation(state, format!("recordType {record_type}"));
    }
    let zone = segs[7];
    let zone_id = id[..id
        .find(&format!("/{}/", record_type.to_ascii_lowercase()))
        .unwrap()]
        .to_string();
    let mut d = state.data.lock().unwrap();
    d.put_bodies.push((id.to_string(), v.clone()));
    if !d.resources.contains_key(&zone_id) {
        drop(d);
        return arm_error(
            404,
            "ParentResourceNotFound",
            &format!(
                "Can not perform requested operation on nested resource. Parent resource '{zone}' not found."
            ),
        );
    }
    let existed = d.resources.contains_key(id);
    let etag = uuid::Uuid::new_v4().to_string();
    let name = segs[9];
    let fqdn = if name == "@" {
        format!("{zone}.")
    } else {
        format!("{name}.{zone}.")
    };
    let mut props = v["properties"].clone();
    props["fqdn"] = json!(fqdn);
    props["provisioningState"] = json!("Succeeded");
    let stored = json!({"id": segs.iter().fold(String::new(), |a, s| a + "/" + s), "name": name, "type": format!("Microsoft.Network/dnszones/{record_type}"), "etag": etag, "properties": props});
    d.resources.insert(
        id.to_string(),
        (
            format!("Microsoft.Network/dnszones/{record_type}"),
            stored.clone(),
            false,
        ),
    );
    drop(d);
    if let Err(e) = dns.check("#/definitions/RecordSet", &stored) {
        return violation(state, e);
    }
    json_response(
        if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &stored,
    )
}

fn put_rule(state: &ArmState, id: &str, body: &[u8]) -> Response {
    let net = spec("azure-arm/network/network.subset.json");
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return violation(state, format!("SecurityRule body is not JSON: {e}")),
    };
    if let Err(e) = net.check("#/definitions/SecurityRule", &v) {
        return violation(state, e);
    }
    let nsg_id = &id[..id.find("/securityrules/").unwrap()];
    let mut d = state.data.lock().unwrap();
    d.put_bodies.push((id.to_string(), v.clone()));
    let Some((_, nsg, _)) = d.resources.get(nsg_id) else {
        drop(d);
        return arm_error(
            404,
            "ResourceNotFound",
            "The network security group was not found.",
        );
    };
    let rule_id = format!(
        "{}/securityRules/{}",
        nsg["id"].as_str().unwrap(),
        id.rsplit('/').next().unwrap()
    );
    let existed = d.resources.contains_key(id);
    let mut stored = v.clone();
    stored["id"] = json!(rule_id);
    stored["name"] = json!(rule_id.rsplit('/').next().unwrap());
    stored["type"] = json!("Microsoft.Network/networkSecurityGroups/securityRules");
    stored["etag"] = json!(format!("W/\"{}\"", uuid::Uuid::new_v4()));
    stored["properties"]["provisioningState"] = json!("Updating");
    d.resources.insert(
        id.to_string(),
        ("securityRules".into(), stored.clone(), false),
    );
    drop(d);
    if let Err(e) = net.check("#/definitions/SecurityRule", &stored) {
        return violation(state, e);
    }
    let mut r = json_response(
        if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &stored,
    );
    r.headers_mut().insert(
        "azure-asyncoperation",
        format!("{}/mock-operations/1", state.url.lock().unwrap())
            .parse()
            .unwrap(),
    );
    r
}

/// The long-running PUT finishes when the rule is read.
fn get_rule(state: &ArmState, id: &str) -> Response {
    let mut d = state.data.lock().unwrap();
    let Some((_, rule, _)) = d.resources.get_mut(id) else {
        drop(d);
        return arm_error(404, "NotFound", "Resource was not found.");
    };
    let now = rule.clone();
    rule["properties"]["provisioningState"] = json!("Succeeded");
    drop(d);
    json_response(StatusCode::OK, &now)
}

/// Key Vault data plane: `GET /secrets/{name}[/{version}]?api-version=7.5`.
async fn vault(
    State(state): State<Arc<ArmState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let kv = spec("azure-keyvault/secrets.subset.json");
    let kv_error = |status: u16, code: &str, message: &str| {
        let body = json!({"error": {"code": code, "message": message}});
        kv.check("#/definitions/KeyVaultError", &body).unwrap();
        json_response(StatusCode::from_u16(status).unwrap(), &body)
    };
    let path = uri.path().to_string();
    state
        .data
        .lock()
        .unwrap()
        .calls
        .push(format!("{method} vault{path}"));
    let q = query(&uri);
    if q.get("api-version").map(String::as_str) != Some("7.5") {
        return violation(
            &state,
            format!("Key Vault api-version {:?}", q.get("api-version")),
        );
    }
    let resource = state
        .data
        .lock()
        .unwrap()
        .vault_resource
        .clone()
        .unwrap_or_else(|| state.vault_url.lock().unwrap().clone());
    if let Err(e) = state.book.check(&headers, &format!("{resource}/.default")) {
        let mut r = kv_error(
            401,
            "Unauthorized",
            &format!("AKV10000: Request is missing a Bearer or PoP token ({e})."),
        );
        r.headers_mut().insert(
            "www-authenticate",
            format!(
                "Bearer authorization=\"{}/{TENANT}\", resource=\"{resource}\"",
                state.authority
            )
            .parse()
            .unwrap(),
        );
        return r;
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if method != Method::GET || segs.first() != Some(&"secrets") || !(2..=3).contains(&segs.len()) {
        return violation(
            &state,
            format!("unknown Key Vault operation {method} {path}"),
        );
    }
    let name = segs[1];
    let d = state.data.lock().unwrap();
    if d.vault_forbidden {
        drop(d);
        return kv_error(
            403,
            "Forbidden",
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'",
        );
    }
    let Some((value, version)) = d.secrets.get(name).cloned() else {
        drop(d);
        return kv_error(
            404,
            "SecretNotFound",
            &format!("A secret with (name/id) {name} was not found in this key vault."),
        );
    };
    drop(d);
    let base = state.vault_url.lock().unwrap().clone();
    let body = json!({"value": value, "id": format!("{base}/secrets/{name}/{version}"), "attributes": {"enabled": true, "created": 1767225600, "updated": 1767225600, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}, "tags": {}});
    if let Err(e) = kv.check("#/definitions/SecretBundle", &body) {
        return violation(&state, e);
    }
    json_response(StatusCode::OK, &body)
}
