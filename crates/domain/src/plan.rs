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

impl Plan {
    pub fn allows_model(&self, model: &str) -> bool {
        model == FREE_MODEL || self.models.iter().any(|m| m == "*" || m == model)
    }
}

#[derive(Deserialize)]
struct Catalog {
    plans: Vec<Plan>,
}

/// The shipped default catalog.
pub fn default_catalog() -> Result<Vec<Plan>, serde_json::Error> {
    serde_json::from_str::<Catalog>(include_str!("../data/plans.json")).map(|c| c.plans)
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
}
