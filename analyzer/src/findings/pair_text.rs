//! What a pair finding's explanation is made of, per rule, kept instead of
//! the text until the finding reaches the report.

use crate::engine::state::{Proc, Scn};
use crate::rules::concurrent_mutation::MutationText;
use crate::rules::shared_schema::SchemaText;

/// What a pair finding's explanation (and `why`) is made of, kept instead
/// of the text: most pair findings are folded into hazard groups and never
/// shown, so the text is built only for those that reach the report.
#[derive(Clone)]
pub(crate) enum PairText {
    Mutation(MutationText),
    Schema(SchemaText),
}

impl PairText {
    /// The explanation (polluter `a`, victim `b`, on `resource`) and, if
    /// the rule has one, the reason for its strength.
    pub(crate) fn render(
        &self,
        a: &Scn,
        b: &Scn,
        resource: &str,
        procs: &[Proc],
    ) -> (String, Option<String>) {
        match self {
            PairText::Mutation(t) => {
                let (explanation, why) = t.render(a, b, resource, procs);
                (explanation, Some(why))
            }
            PairText::Schema(t) => (t.render(a, b, procs), None),
        }
    }
}
