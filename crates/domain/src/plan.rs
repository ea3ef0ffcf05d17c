//! Plans: what an organization may do and what it pays. Data, not code: the defaults
//! ship in `data/plans.json` and are copied into the database on first start.

use serde::{Deserialize, Serialize};

/// The model every plan may use: the built-in offline echo model.
pub const FREE_MODEL: &str = "mock-echo";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub name: String,
    /// Monthly price in kobo.
    pub price_kobo: i64,
    /// Tokens a month covered by the price; usage beyond them is overage.
    pub included_tokens: u64,
    /// Hard monthly token limit (`None`: unlimited).
    pub monthly_token_limit: Option<u64>,
    /// Hard monthly request limit (`None`: unlimited).
    pub monthly_api_calls: Option<u64>,
    /// Overage price per 1K tokens beyond the included ones (`None`: by contract).
    pub overage_per_1k_kobo: Option<i64>,
    pub api_keys: Option<u64>,
    pub members: Option<u64>,
    pub workspaces: Option<u64>,
    pub requests_per_minute: u64,
    pub tokens_per_minute: u64,
    /// Reserved for a request that names no `max_tokens`.
    pub max_tokens_per_request: u64,
    /// Model names this plan may call; `"*"` means all.
    pub models: Vec<String>,
    /// Days from invoice date to due date.
    pub invoice_terms_days: u32,
    #[serde(default)]
    pub features: Vec<String>,
}

/// Why a plan is not acceptable, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PlanError {
    pub field: &'static str,
    pub message: &'static str,
}

impl Plan {
    pub fn allows_model(&self, model: &str) -> bool {
        model == FREE_MODEL || self.models.iter().any(|m| m == "*" || m == model)
    }

    /// The rules every plan keeps, whether it comes from a file or an operator.
    pub fn check(&self) -> Result<(), PlanError> {
        let bad = |field, message| Err(PlanError { field, message });
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 40
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !id_ok {
            return bad(
                "id",
                "id must be 1 to 40 lowercase letters, digits, `-` or `_`",
            );
        }
        if self.name.trim().is_empty() || self.name.len() > 100 {
            return bad("name", "name must be 1 to 100 characters");
        }
        if self.price_kobo < 0 || self.overage_per_1k_kobo.is_some_and(|o| o < 0) {
            return bad("price_kobo", "prices must not be negative");
        }
        if self.invoice_terms_days == 0 || self.invoice_terms_days > 365 {
            return bad("invoice_terms_days", "invoice_terms_days must be 1 to 365");
        }
        if self.requests_per_minute == 0
            || self.tokens_per_minute == 0
            || self.max_tokens_per_request == 0
        {
            return bad(
                "requests_per_minute",
                "per-minute limits and max_tokens_per_request must be positive",
            );
        }
        Ok(())
    }
}

/// Why a plan catalog file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("the plan catalog is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("plan `{id}`: {error}")]
    Plan { id: String, error: PlanError },
    #[error("the plan catalog names `{0}` twice")]
    Duplicate(String),
    #[error("the plan catalog has no `free` plan, which every new organization starts on")]
    NoFreePlan,
}

#[derive(Deserialize)]
struct Catalog {
    plans: Vec<Plan>,
}

/// A catalog file (`{"plans": [...]}`, the shape of `data/plans.json`), checked.
pub fn parse_catalog(text: &str) -> Result<Vec<Plan>, CatalogError> {
    let plans = serde_json::from_str::<Catalog>(text)?.plans;
    for (i, p) in plans.iter().enumerate() {
        p.check().map_err(|error| CatalogError::Plan {
            id: p.id.clone(),
            error,
        })?;
        if plans[..i].iter().any(|q| q.id == p.id) {
            return Err(CatalogError::Duplicate(p.id.clone()));
        }
    }
    if !plans.iter().any(|p| p.id == "free") {
        return Err(CatalogError::NoFreePlan);
    }
    Ok(plans)
}

/// The shipped default catalog.
pub fn default_catalog() -> Result<Vec<Plan>, CatalogError> {
    parse_catalog(include_str!("../data/plans.json"))
}

/// A limit that may be lifted: `Some(n)` or unlimited.
pub fn within(limit: Option<u64>, count: u64) -> bool {
    limit.is_none_or(|l| count < l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_catalog_matches_the_product_table() {
        let plans = default_catalog().unwrap_or_default();
        let ids: Vec<_> = plans.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["free", "starter", "professional", "enterprise"]);
        let pro = &plans[2];
        assert_eq!(pro.price_kobo, 4_500_000);
        assert_eq!(pro.included_tokens, 10_000_000);
        assert!(pro.allows_model("gpt-4o") && pro.allows_model("mock-echo"));
        assert!(!plans[0].allows_model("gpt-4o"));
        assert!(plans[3].allows_model("anything"));
        assert!(within(None, u64::MAX - 1) && within(Some(2), 1) && !within(Some(2), 2));
    }

    #[test]
    fn catalog_files_are_checked() {
        let text = include_str!("../data/plans.json");
        assert_eq!(parse_catalog(text).map(|p| p.len()).ok(), Some(4));
        let without_free = text.replace("\"id\": \"free\"", "\"id\": \"gratis\"");
        assert!(matches!(
            parse_catalog(&without_free),
            Err(CatalogError::NoFreePlan)
        ));
        let twice = text.replace("\"id\": \"starter\"", "\"id\": \"free\"");
        assert!(matches!(parse_catalog(&twice), Err(CatalogError::Duplicate(id)) if id == "free"));
        let negative = text.replace("\"price_kobo\": 1500000", "\"price_kobo\": -1");
        assert!(matches!(
            parse_catalog(&negative),
            Err(CatalogError::Plan {
                error: PlanError {
                    field: "price_kobo",
                    ..
                },
                ..
            })
        ));
        assert!(matches!(
            parse_catalog("{\"plans\": 3}"),
            Err(CatalogError::Json(_))
        ));
    }
}
