//! SaaS management's pure parts: the built-in catalogue of common SaaS apps (names, vendors,
//! categories, domains, vendor aliases; compiled in), the normalisation that matches a
//! vendor as an expense report spells it to a catalogue app, and the expense CSV parser.
//!
//! It decides nothing about the directory and does no I/O: the inventory, its rules and its
//! storage are core's (`latchkey_core::saas`, `Directory::import_expenses`); channels parse
//! here and hand the result to core.

pub mod catalogue;
pub mod expenses;
pub mod vendor;

pub use catalogue::{CATALOGUE, CatalogueApp};
pub use expenses::{ExpenseFileError, LineProblem, ParsedExpenses, parse_expenses, parse_money};
pub use vendor::{match_vendor, normalize_vendor};
