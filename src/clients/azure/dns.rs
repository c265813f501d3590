//! Azure DNS (API 2018-05-01): does the zone exist (its SOA record set), and the A record
//! the deploy step points at the gateway (`RecordSets_CreateOrUpdate`).

use std::net::Ipv4Addr;

use reqwest::{Method, StatusCode};
use serde_json::json;
use url::Url;

use super::AzureError;
use super::arm::{self, Arm, not_found};
use crate::clients::http::Http;
use crate::secret::Secret;

pub const DNS_API: &str = "2018-05-01";

#[derive(Clone, Debug, serde::Serialize)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub resource_group: String,
}

fn zone_path(subscription_id: &str, rg: &str, zone: &str) -> String {
    format!(
        "/subscriptions/{subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/dnsZones/{zone}"
    )
}

/// The zone, confirmed by reading its SOA record set (every zone has exactly one).
pub async fn zone(arm: &Arm<'_>, rg: &str, name: &str) -> Result<Zone, AzureError> {
    let path = zone_path(&arm.subscription_id, rg, name);
    arm.get(
        &format!("{path}/SOA/@"),
        DNS_API,
        "reading the DNS zone's SOA record",
    )
    .await
    .map_err(|e| not_found(e, "DNS zone", name, &format!("resource group {rg}")))?;
    Ok(Zone {
        id: path,
        name: name.to_string(),
        resource_group: rg.to_string(),
    })
}

/// An A record set to create or replace.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ARecord {
    pub subscription_id: String,
    pub resource_group: String,
    pub zone: String,
    /// Relative name in the zone: `api`, or `@` for the apex.
    pub name: String,
    pub ttl: u32,
    pub addresses: Vec<Ipv4Addr>,
}

/// What Azure DNS holds afterwards.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordSetResult {
    pub id: String,
    pub fqdn: Option<String>,
    /// `true` when the record set did not exist before (HTTP 201).
    pub created: bool,
    pub etag: Option<String>,
    pub addresses: Vec<Ipv4Addr>,
}

/// Creates or replaces the A record set (`RecordSets_CreateOrUpdate`).
pub async fn upsert_a_record(
    http: &Http,
    arm_endpoint: &Url,
    token: &Secret,
    record: &ARecord,
) -> Result<RecordSetResult, AzureError> {
    let bad = |message: &str| AzureError::InvalidArgument {
        what: format!("DNS record `{}` in zone `{}`", record.name, record.zone),
        message: message.to_string(),
    };
    if record.addresses.is_empty() {
        return Err(bad("no IPv4 address given"));
    }
    if record.name.is_empty()
        || record.name.contains('/')
        || record.name.ends_with('.')
        || record.name.len() > 253
    {
        return Err(bad(
            "the name must be relative to the zone (`api`, or `@` for the apex)",
        ));
    }
    let path = format!(
        "{}/A/{}",
        zone_path(
            &record.subscription_id,
            &record.resource_group,
            &record.zone
        ),
        record.name
    );
    let body = json!({
        "properties": {
            "TTL": record.ttl,
            "ARecords": record.addresses.iter().map(|a| json!({"ipv4Address": a.to_string()})).collect::<Vec<_>>(),
        }
    });
    let u = arm::url(arm_endpoint, &path, DNS_API, &[]);
    let op = format!(
        "writing the DNS A record `{}` in `{}`",
        record.name, record.zone
    );
    let (status, _, v) = arm::call(http, Method::PUT, &u, token, Some(&body), &[], &op)
        .await
        .map_err(|e| {
            not_found(
                e,
                "DNS zone",
                &record.zone,
                &format!("resource group {}", record.resource_group),
            )
        })?;
    let addresses = v
        .pointer("/properties/ARecords")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    r.get("ipv4Address")
                        .and_then(serde_json::Value::as_str)?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(RecordSetResult {
        id: v
            .get("id")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(&path)
            .to_string(),
        fqdn: v
            .pointer("/properties/fqdn")
            .and_then(serde_json::Value::as_str)
            .map(String::from),
        created: status == StatusCode::CREATED,
        etag: v
            .get("etag")
            .and_then(serde_json::Value::as_str)
            .map(String::from),
        addresses,
    })
}
