//! What a call costs: the price table (exact model names, then the longest `prefix*` pattern,
//! then the configured default, flagged as unknown) and integer nano-dollar arithmetic that never
//! prices a call with tokens at $0 unless its model is priced at zero.

use super::types::Usage;
use crate::store::PriceRow;

/// Prices in nano-dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    /// Input.
    pub input_per_mtok: i64,
    /// Output.
    pub output_per_mtok: i64,
    /// Cached input.
    pub cached_input_per_mtok: i64,
}

impl From<&PriceRow> for Price {
    fn from(r: &PriceRow) -> Self {
        Price {
            input_per_mtok: r.input_per_mtok,
            output_per_mtok: r.output_per_mtok,
            cached_input_per_mtok: r.cached_input_per_mtok,
        }
    }
}

/// `tokens * per_mtok / 1e6`, rounded up, so any paid token costs at least one nano-dollar.
fn part(tokens: u64, per_mtok: i64) -> i64 {
    let product = i128::from(tokens) * i128::from(per_mtok.max(0));
    let nanos = (product + 999_999) / 1_000_000;
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

impl Price {
    /// The cost of `usage`.
    pub fn cost(&self, usage: &Usage) -> i64 {
        part(usage.input_tokens, self.input_per_mtok)
            .saturating_add(part(usage.output_tokens, self.output_per_mtok))
            .saturating_add(part(usage.cached_input_tokens, self.cached_input_per_mtok))
    }
}

/// The price table as loaded from the store.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    rows: Vec<PriceRow>,
    default: Price,
}

impl PriceTable {
    /// A table over `rows`, with `default` for models no row matches.
    pub fn new(rows: Vec<PriceRow>, default: Price) -> Self {
        Self { rows, default }
    }

    /// The quality of `model` (0–100) by the same matching; 50 when unknown.
    pub fn quality(&self, model: &str) -> i32 {
        self.matching(model).and_then(|r| r.quality).unwrap_or(50)
    }

    fn matching(&self, model: &str) -> Option<&PriceRow> {
        if let Some(exact) = self.rows.iter().find(|r| r.model == model) {
            return Some(exact);
        }
        self.rows
            .iter()
            .filter_map(|r| r.model.strip_suffix('*').map(|prefix| (prefix, r)))
            .filter(|(prefix, _)| model.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, r)| r)
    }

    /// The price of `model` and whether the table knew it.
    pub fn lookup(&self, model: &str) -> (Price, bool) {
        match self.matching(model) {
            Some(row) => (row.into(), true),
            None => (self.default, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, input: i64, output: i64) -> PriceRow {
        PriceRow {
            model: model.into(),
            input_per_mtok: input,
            output_per_mtok: output,
            cached_input_per_mtok: input / 10,
            quality: None,
            updated_at: 0,
        }
    }

    #[test]
    fn exact_then_longest_prefix_then_default() {
        let table = PriceTable::new(
            vec![
                row("gpt-4o*", 2_500_000_000, 10_000_000_000),
                row("gpt-4o-mini*", 150_000_000, 600_000_000),
                row("house", 1, 1),
            ],
            Price { input_per_mtok: 5, output_per_mtok: 5, cached_input_per_mtok: 5 },
        );
        assert_eq!(table.lookup("gpt-4o-mini-2024-07-18").0.input_per_mtok, 150_000_000);
        assert_eq!(table.lookup("gpt-4o-2024-08-06").0.input_per_mtok, 2_500_000_000);
        assert_eq!(
            table.lookup("house"),
            (Price { input_per_mtok: 1, output_per_mtok: 1, cached_input_per_mtok: 0 }, true)
        );
        assert!(!table.lookup("mystery").1);
        assert_eq!(table.lookup("mystery").0.input_per_mtok, 5);
    }

    #[test]
    fn costs_round_up_and_are_never_zero_for_paid_tokens() {
        let mini = Price {
            input_per_mtok: 150_000_000,
            output_per_mtok: 600_000_000,
            cached_input_per_mtok: 75_000_000,
        };
        // 1000 input at $0.15/M = $0.00015 = 150,000 nanos; 200 output at $0.60/M = 120,000.
        let usage = Usage { input_tokens: 1000, output_tokens: 200, cached_input_tokens: 0 };
        assert_eq!(mini.cost(&usage), 270_000);
        let tiny = Price { input_per_mtok: 1, output_per_mtok: 0, cached_input_per_mtok: 0 };
        assert_eq!(
            tiny.cost(&Usage { input_tokens: 1, ..Usage::default() }),
            1,
            "rounded up, not to $0"
        );
        assert_eq!(Price::default().cost(&usage), 0, "free models cost nothing");
    }
}
