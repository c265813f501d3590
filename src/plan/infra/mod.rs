//! The infra plan: the resource names (Azure's rules checked), the ARM template of the
//! whole shared infrastructure, and where it goes. Pure: `--dry-run` prints it and
//! `--template-out` writes the template, with no Azure at all when no subscription is
//! given. The password is a `secureString` parameter and never part of the plan.

pub mod names;
pub mod roles;
pub mod template;

use serde_json::Value;

use crate::inputs::InputError;
use crate::inputs::settings::{InfraSettings, Phase};
pub use names::Names;

/// Parameter names of the template.
pub const PASSWORD_PARAMETER: &str = "mysqlAdminPassword";
pub const DEPLOYER_PARAMETER: &str = "deployerPrincipalId";
/// `true` on a re-run when the Application Gateway exists: its resource is skipped.
pub const GATEWAY_EXISTS_PARAMETER: &str = "gatewayExists";
/// `true` on a re-run when the gateway NSG exists: only its rules are written.
pub const NSG_EXISTS_PARAMETER: &str = "gatewayNsgExists";

#[derive(Clone, Debug, serde::Serialize)]
pub struct InfraPlan {
    pub resource_group: String,
    pub location: String,
    pub deployment: String,
    pub mode: &'static str,
    pub dns_zone: String,
    pub dns_zone_resource_group: String,
    pub phases: Vec<Phase>,
    pub names: Names,
    /// `type name` of every resource, in template order.
    pub resources: Vec<String>,
    pub template: Value,
}

impl InfraPlan {
    pub fn new(s: &InfraSettings) -> Result<Self, InputError> {
        let names = Names::from_prefix(&s.name_prefix);
        names.check()?;
        for c in &s.mysql_allow_cidrs {
            if template::ipv4_range(c).is_none() {
                return Err(InputError::invalid(
                    "--mysql-allow-cidr",
                    format!("`{c}` is not an IPv4 range"),
                    "IPv4 addresses or CIDRs (MySQL firewall rules are IPv4 ranges)",
                ));
            }
        }
        let template = template::template(s, &names);
        let resources = list(&template);
        Ok(InfraPlan {
            resource_group: s.resource_group.clone(),
            location: s.location.clone(),
            deployment: s.deployment_name.clone(),
            mode: "Incremental",
            dns_zone: s.dns_zone.clone(),
            dns_zone_resource_group: s.dns_zone_resource_group.clone(),
            phases: s.phases.clone(),
            names,
            resources,
            template,
        })
    }

    /// The template as written by `--template-out` (pretty JSON, newline at the end).
    pub fn template_text(&self) -> String {
        // A `Value` always serializes (its map keys are strings).
        let mut t = serde_json::to_string_pretty(&self.template).unwrap_or_default();
        t.push('\n');
        t
    }
}

fn list(template: &Value) -> Vec<String> {
    fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
        v.get(key).and_then(Value::as_str).unwrap_or_default()
    }
    fn array_at<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
        (v.pointer(pointer).and_then(Value::as_array))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    let mut out = Vec::new();
    for r in array_at(template, "/resources") {
        let t = str_at(r, "type");
        let n = str_at(r, "name");
        out.push(format!("{t} {n}"));
        for child in array_at(r, "/resources") {
            out.push(format!(
                "  {t}/{} {n}/{}",
                str_at(child, "type"),
                str_at(child, "name")
            ));
        }
        for inner in array_at(r, "/properties/template/resources") {
            out.push(format!(
                "  {} {}",
                str_at(inner, "type"),
                str_at(inner, "name")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::inputs::{Flags, Resolved, Step};

    pub(crate) fn settings(flags: &[(&str, &str)]) -> Result<InfraSettings, InputError> {
        let env = Env::from_pairs::<&str, &str>([], "/");
        let mut f = Flags::new();
        for (k, v) in [
            ("name-prefix", "shop"),
            ("resource-group", "rg-shared"),
            ("dns-zone", "shop.example.com"),
            ("dry-run", "true"),
        ]
        .iter()
        .chain(flags)
        {
            f.entry(k.to_string()).or_default().push(v.to_string());
        }
        InfraSettings::resolve(&Resolved::resolve(Step::Infra, &f, &env, None, None), &env)
    }

    #[test]
    fn the_template_of_the_default_settings() {
        let s = settings(&[
            ("allow-cidr", "203.0.113.0/24"),
            ("mysql-allow-cidr", "198.51.100.7"),
            ("mysql-allow-azure-services", "true"),
            ("discovery-tags", "app=shop"),
            ("dns-zone-resource-group", "rg-dns"),
        ])
        .unwrap();
        let plan = InfraPlan::new(&s).unwrap();
        insta::assert_snapshot!("infra_template", plan.template_text());
        insta::assert_snapshot!("infra_resources", plan.resources.join("\n"));
    }

    #[test]
    fn the_password_is_a_secure_parameter_and_nowhere_else() {
        let plan = InfraPlan::new(&settings(&[]).unwrap()).unwrap();
        assert_eq!(
            plan.template["parameters"][PASSWORD_PARAMETER]["type"],
            "securestring"
        );
        let text = plan.template_text();
        assert!(!text.contains("defaultValue\": \"P"), "{text}");
        assert_eq!(
            text.matches("parameters('mysqlAdminPassword')").count(),
            2,
            "the server and the Key Vault secret only"
        );
    }

    #[test]
    fn a_prefix_that_breaks_a_naming_rule_is_exit_2_naming_it() {
        let e = settings(&[("name-prefix", "Shop")]).unwrap_err();
        assert!(e.to_string().starts_with("--name-prefix"), "{e}");
        let e = settings(&[("name-prefix", "ab")]).unwrap_err();
        assert!(e.to_string().contains("`ab`"), "{e}");
    }

    #[test]
    fn open_to_all_without_allow_cidr_and_one_zone_for_the_nodes() {
        let plan = InfraPlan::new(&settings(&[("zone", "3")]).unwrap()).unwrap();
        let res = plan.template["resources"].as_array().unwrap();
        let nsg = res.iter().find(|r| r["name"] == "shop-appgw-nsg").unwrap();
        assert_eq!(
            nsg["resources"][0]["properties"]["sourceAddressPrefix"],
            "*"
        );
        let aks = res.iter().find(|r| r["name"] == "shop-aks").unwrap();
        assert_eq!(
            aks["properties"]["agentPoolProfiles"][0]["availabilityZones"],
            serde_json::json!(["3"])
        );
        assert_eq!(
            aks["properties"]["autoUpgradeProfile"]["upgradeChannel"],
            "none"
        );
    }

    #[test]
    fn ipv6_mysql_rules_are_refused() {
        let s = settings(&[("mysql-allow-cidr", "2001:db8::/64")]).unwrap();
        let e = InfraPlan::new(&s).unwrap_err();
        assert!(e.to_string().contains("--mysql-allow-cidr"), "{e}");
    }
}
