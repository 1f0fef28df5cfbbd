//! The golden set scored in every input form through a [`Transport`]: each form must answer
//! 200 with the expected probabilities bit for bit, and every form the same.

use std::time::Instant;

use crate::checks::golden::{Golden, InputForm, answer_probabilities, excerpt};
use crate::checks::report::{CheckLevel, CheckOutcome};
use crate::checks::transport::{Call, Transport};

/// One check per input form (`score <form>`), then `forms agree`.
pub(crate) fn score_every_form(
    level: CheckLevel,
    transport: &dyn Transport,
    golden: &Golden,
    key: Option<&str>,
) -> Vec<CheckOutcome> {
    let mut checks = Vec::with_capacity(InputForm::ALL.len() + 1);
    let mut answers: Vec<(InputForm, Vec<Vec<f64>>)> = Vec::new();
    for form in InputForm::ALL {
        let started = Instant::now();
        let name = format!("score {}", form.name());
        let outcome = match score_form(transport, golden, form, key) {
            Ok(rows) => {
                let verdict = golden.compare(&rows);
                answers.push((form, rows));
                match verdict {
                    Ok(()) => CheckOutcome::pass(
                        level,
                        name,
                        format!(
                            "{} golden records scored as expected (model {})",
                            golden.rows.len(),
                            golden.model
                        ),
                    ),
                    Err(reason) => CheckOutcome::fail(level, name, reason),
                }
            }
            Err(reason) => CheckOutcome::fail(level, name, reason),
        };
        checks.push(outcome.timed(started));
    }
    checks.push(forms_agree(level, &answers));
    checks
}

/// The golden set's probabilities in one form, rows in golden order.
fn score_form(
    transport: &dyn Transport,
    golden: &Golden,
    form: InputForm,
    key: Option<&str>,
) -> Result<Vec<Vec<f64>>, String> {
    let mut rows = Vec::with_capacity(golden.rows.len());
    for body in form.bodies(golden) {
        let answer = transport.send(&Call::post("/score", &body, key))?;
        if answer.status != 200 {
            return Err(format!(
                "answered {}: {}",
                answer.status,
                excerpt(&answer.body)
            ));
        }
        rows.extend(answer_probabilities(&answer.body)?);
    }
    Ok(rows)
}

/// Every form that answered gave the same probabilities as the first.
fn forms_agree(level: CheckLevel, answers: &[(InputForm, Vec<Vec<f64>>)]) -> CheckOutcome {
    let name = "forms agree";
    let Some((first_form, first)) = answers.first() else {
        return CheckOutcome::fail(level, name, "no form was answered");
    };
    let same = |rows: &Vec<Vec<f64>>| {
        rows.len() == first.len()
            && rows.iter().zip(first).all(|(a, b)| {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            })
    };
    let differing: Vec<&str> = answers
        .iter()
        .filter(|(_, rows)| !same(rows))
        .map(|(form, _)| form.name())
        .collect();
    let missing = InputForm::ALL.len() - answers.len();
    if !differing.is_empty() {
        CheckOutcome::fail(
            level,
            name,
            format!(
                "{} gave other probabilities than {}",
                differing.join(", "),
                first_form.name()
            ),
        )
    } else if missing > 0 {
        CheckOutcome::fail(
            level,
            name,
            format!("{missing} forms were not answered with probabilities"),
        )
    } else {
        CheckOutcome::pass(
            level,
            name,
            format!("all {} forms gave identical probabilities", answers.len()),
        )
    }
}
