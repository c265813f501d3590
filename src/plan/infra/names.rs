//! The names infra gives its resources, derived from `name-prefix`, and Azure's naming
//! rules for each (length, characters, where a hyphen may go). A name that breaks a rule
//! is exit 2 naming `--name-prefix` and the rule, before anything is sent to Azure.

use crate::inputs::InputError;

/// Every resource name of the shared infrastructure.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Names {
    pub vnet: String,
    pub gateway_subnet: String,
    pub aks_subnet: String,
    pub gateway_nsg: String,
    pub aks_nsg: String,
    pub public_ip: String,
    pub gateway: String,
    pub workspace: String,
    pub cluster_identity: String,
    pub aks: String,
    pub acr: String,
    pub mysql: String,
    pub key_vault: String,
    pub eso_identity: String,
    pub cert_manager_identity: String,
    pub flux_extension: String,
    /// The Key Vault secrets infra writes.
    pub mysql_secret: String,
    pub kubeconfig_secret: String,
}

impl Names {
    pub fn from_prefix(p: &str) -> Names {
        Names {
            vnet: format!("{p}-vnet"),
            gateway_subnet: "snet-appgw".into(),
            aks_subnet: "snet-aks".into(),
            gateway_nsg: format!("{p}-appgw-nsg"),
            aks_nsg: format!("{p}-aks-nsg"),
            public_ip: format!("{p}-appgw-pip"),
            gateway: format!("{p}-appgw"),
            workspace: format!("{p}-logs"),
            cluster_identity: format!("{p}-aks-identity"),
            aks: format!("{p}-aks"),
            acr: format!("{p}acr"),
            mysql: format!("{p}-mysql"),
            key_vault: format!("{p}-kv"),
            eso_identity: format!("{p}-eso-identity"),
            cert_manager_identity: format!("{p}-certmanager-identity"),
            flux_extension: "flux".into(),
            mysql_secret: "mysql-admin-password".into(),
            kubeconfig_secret: "aks-kubeconfig".into(),
        }
    }

    /// Checks each name against its resource type's rules.
    pub fn check(&self) -> Result<(), InputError> {
        let rules: [(&str, &str, Rule); 8] = [
            (&self.acr, "container registry", Rule::ACR),
            (&self.key_vault, "Key Vault", Rule::KEY_VAULT),
            (&self.mysql, "MySQL flexible server", Rule::MYSQL),
            (&self.aks, "AKS cluster", Rule::AKS),
            (&self.workspace, "Log Analytics workspace", Rule::WORKSPACE),
            (&self.gateway, "Application Gateway", Rule::NETWORK),
            (&self.vnet, "virtual network", Rule::NETWORK),
            (&self.eso_identity, "managed identity", Rule::IDENTITY),
        ];
        for (name, what, rule) in rules {
            if let Err(why) = rule.check(name) {
                return Err(InputError::invalid(
                    "--name-prefix",
                    format!("the {what} name `{name}` {why}"),
                    format!("a prefix that keeps it to {}", rule.describe),
                ));
            }
        }
        Ok(())
    }
}

/// One resource type's naming rule.
#[derive(Clone, Copy)]
struct Rule {
    min: usize,
    max: usize,
    hyphen: bool,
    underscore: bool,
    period: bool,
    lowercase_only: bool,
    start_letter: bool,
    no_double_hyphen: bool,
    describe: &'static str,
}

impl Rule {
    const BASE: Rule = Rule {
        min: 1,
        max: 64,
        hyphen: true,
        underscore: false,
        period: false,
        lowercase_only: false,
        start_letter: false,
        no_double_hyphen: false,
        describe: "",
    };
    const ACR: Rule = Rule {
        min: 5,
        max: 50,
        hyphen: false,
        describe: "5-50 letters and digits",
        ..Rule::BASE
    };
    const KEY_VAULT: Rule = Rule {
        min: 3,
        max: 24,
        start_letter: true,
        no_double_hyphen: true,
        describe: "3-24 letters, digits and single hyphens, starting with a letter",
        ..Rule::BASE
    };
    const MYSQL: Rule = Rule {
        min: 3,
        max: 63,
        lowercase_only: true,
        describe: "3-63 lowercase letters, digits and hyphens",
        ..Rule::BASE
    };
    const AKS: Rule = Rule {
        min: 1,
        max: 63,
        underscore: true,
        describe: "1-63 letters, digits, `-` and `_`",
        ..Rule::BASE
    };
    const WORKSPACE: Rule = Rule {
        min: 4,
        max: 63,
        describe: "4-63 letters, digits and hyphens",
        ..Rule::BASE
    };
    const NETWORK: Rule = Rule {
        min: 1,
        max: 80,
        underscore: true,
        period: true,
        describe: "1-80 letters, digits, `-`, `_` and `.`",
        ..Rule::BASE
    };
    const IDENTITY: Rule = Rule {
        min: 3,
        max: 128,
        underscore: true,
        describe: "3-128 letters, digits, `-` and `_`",
        ..Rule::BASE
    };

    fn check(&self, name: &str) -> Result<(), String> {
        let n = name.chars().count();
        if n < self.min || n > self.max {
            return Err(format!(
                "has {n} characters ({}-{} allowed)",
                self.min, self.max
            ));
        }
        for c in name.chars() {
            let ok = c.is_ascii_digit()
                || c.is_ascii_lowercase()
                || (c.is_ascii_uppercase() && !self.lowercase_only)
                || (c == '-' && self.hyphen)
                || (c == '_' && self.underscore)
                || (c == '.' && self.period);
            if !ok {
                return Err(format!("may not contain `{c}`"));
            }
        }
        if self.start_letter && !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err("must start with a letter".into());
        }
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
            || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
        {
            return Err("must start and end with a letter or digit".into());
        }
        if self.no_double_hyphen && name.contains("--") {
            return Err("may not contain `--`".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_a_valid_prefix_pass_every_rule() {
        Names::from_prefix("shop").check().unwrap();
        Names::from_prefix("abcdefghij").check().unwrap();
    }

    #[test]
    fn a_name_breaking_a_rule_names_the_prefix_and_the_rule() {
        let mut n = Names::from_prefix("shop");
        n.key_vault = "shop--kv".into();
        let e = n.check().unwrap_err().to_string();
        assert_eq!(
            e,
            "--name-prefix: the Key Vault name `shop--kv` may not contain `--`"
        );
        n = Names::from_prefix("shop");
        n.acr = "shop-acr".into();
        assert!(n.check().unwrap_err().to_string().contains("`-`"));
        n = Names::from_prefix("shop");
        n.key_vault = "a-very-long-key-vault-name-x".into();
        assert!(n.check().unwrap_err().to_string().contains("characters"));
    }
}
