//! Synthetic financial-behaviour data in the layout of the "Comprehensive Banking Database"
//! (40 columns, M/D/YYYY dates), with learnable signal in `Anomaly` and `Loan_Status`.

use std::io::{BufWriter, Write};

use crate::date::{civil_from_days, days_from_civil};
use crate::error::DataError;
use crate::rng::Rng;

/// The 40 column names, in file order.
pub const BANKING_COLUMNS: [&str; 40] = [
    "Customer_ID",
    "First_Name",
    "Last_Name",
    "Age",
    "Gender",
    "Address",
    "City",
    "Contact_Number",
    "Email",
    "Account_Type",
    "Account_Balance",
    "Date_Of_Account_Opening",
    "Last_Transaction_Date",
    "Transaction_ID",
    "Transaction_Date",
    "Transaction_Type",
    "Transaction_Amount",
    "Account_Balance_After_Transaction",
    "Branch_ID",
    "Loan_ID",
    "Loan_Amount",
    "Loan_Type",
    "Interest_Rate",
    "Loan_Term",
    "Approval/Rejection_Date",
    "Loan_Status",
    "Card_ID",
    "Card_Type",
    "Credit_Limit",
    "Credit_Card_Balance",
    "Minimum_Payment_Due",
    "Payment_Due_Date",
    "Last_Credit_Card_Payment_Date",
    "Rewards_Points",
    "Feedback_ID",
    "Feedback_Date",
    "Feedback_Type",
    "Resolution_Status",
    "Resolution_Date",
    "Anomaly",
];

const FIRST_NAMES: [&str; 50] = [
    "Amanda",
    "Andrew",
    "Anthony",
    "Ashley",
    "Barbara",
    "Betty",
    "Brian",
    "Carol",
    "Charles",
    "Christopher",
    "Daniel",
    "David",
    "Deborah",
    "Donald",
    "Donna",
    "Elizabeth",
    "Emily",
    "James",
    "Jennifer",
    "Jessica",
    "John",
    "Joseph",
    "Joshua",
    "Karen",
    "Kenneth",
    "Kevin",
    "Kimberly",
    "Linda",
    "Lisa",
    "Margaret",
    "Mark",
    "Mary",
    "Matthew",
    "Melissa",
    "Michael",
    "Michelle",
    "Nancy",
    "Patricia",
    "Paul",
    "Richard",
    "Robert",
    "Ronald",
    "Sandra",
    "Sarah",
    "Stephanie",
    "Steven",
    "Susan",
    "Thomas",
    "Timothy",
    "William",
];
const LAST_NAMES: [&str; 50] = [
    "Adams",
    "Allen",
    "Anderson",
    "Baker",
    "Brown",
    "Campbell",
    "Carter",
    "Clark",
    "Davis",
    "Flores",
    "Garcia",
    "Gonzalez",
    "Green",
    "Hall",
    "Harris",
    "Hernandez",
    "Hill",
    "Jackson",
    "Johnson",
    "Jones",
    "King",
    "Lee",
    "Lewis",
    "Lopez",
    "Martin",
    "Martinez",
    "Miller",
    "Mitchell",
    "Moore",
    "Nelson",
    "Nguyen",
    "Perez",
    "Ramirez",
    "Rivera",
    "Roberts",
    "Robinson",
    "Rodriguez",
    "Sanchez",
    "Scott",
    "Smith",
    "Taylor",
    "Thomas",
    "Thompson",
    "Torres",
    "Walker",
    "White",
    "Williams",
    "Wilson",
    "Wright",
    "Young",
];
const CITIES: [&str; 40] = [
    "Albuquerque",
    "Atlanta",
    "Austin",
    "Baltimore",
    "Boston",
    "Charlotte",
    "Chicago",
    "Colorado Springs",
    "Columbus",
    "Dallas",
    "Denver",
    "Detroit",
    "El Paso",
    "Fort Worth",
    "Fresno",
    "Houston",
    "Indianapolis",
    "Jacksonville",
    "Kansas City",
    "Las Vegas",
    "Los Angeles",
    "Louisville",
    "Memphis",
    "Mesa",
    "Milwaukee",
    "Nashville",
    "New York",
    "Oklahoma City",
    "Omaha",
    "Philadelphia",
    "Phoenix",
    "Portland",
    "Sacramento",
    "San Antonio",
    "San Diego",
    "San Francisco",
    "San Jose",
    "Seattle",
    "Tucson",
    "Washington",
];

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items
        .get(rng.gen_below(items.len() as u64) as usize)
        .copied()
        .unwrap_or("")
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `M/D/YYYY` as in the banking file.
struct Mdy(i32);

impl std::fmt::Display for Mdy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{m}/{d}/{y}")
    }
}

fn day_in(rng: &mut Rng, first: i32, last: i32) -> i32 {
    first + rng.gen_below((last - first + 1) as u64) as i32
}

/// Stream `rows` synthetic records (plus a header) to `writer`; the output depends only on
/// `rows` and `seed`, and memory use does not grow with `rows`.
///
/// Signal: `Anomaly` (1 normal, −1 anomalous, about 9 % anomalous) rises with the withdrawn or
/// transferred amount relative to the balance, credit-card utilisation, a card payment made long
/// after its due date, a young account and a young customer — interactions plus noise, so no
/// single column separates the classes. `Loan_Status` (Approved/Rejected/Closed) depends on the
/// interest rate, the loan amount relative to the balance, the loan term and the approval date.
pub fn generate_banking_csv<W: Write>(writer: W, rows: u64, seed: u64) -> Result<(), DataError> {
    let mut out = BufWriter::with_capacity(1 << 20, writer);
    let io = DataError::Generate;
    writeln!(out, "{}", BANKING_COLUMNS.join(",")).map_err(io)?;
    let mut rng = Rng::seed_from_u64(seed);
    let y2000 = days_from_civil(2000, 1, 1);
    let y2021 = days_from_civil(2021, 1, 1);
    let end2022 = days_from_civil(2022, 12, 31);
    let y2023 = days_from_civil(2023, 1, 1);
    let end2023 = days_from_civil(2023, 12, 31);
    for i in 1..=rows {
        let first = pick(&mut rng, &FIRST_NAMES);
        let last = pick(&mut rng, &LAST_NAMES);
        let age = 18 + rng.gen_below(52) as i32;
        let gender = pick(&mut rng, &["Male", "Female", "Other"]);
        let city = pick(&mut rng, &CITIES);
        let account_type = pick(&mut rng, &["Current", "Savings"]);
        let balance = cents(rng.gen_range_f64(100.0, 10_000.0));
        let opened = day_in(&mut rng, y2000, end2022);
        let last_tx = day_in(&mut rng, y2023, end2023);
        let tx_date = day_in(&mut rng, y2023, end2023);
        let tx_type = pick(&mut rng, &["Deposit", "Withdrawal", "Transfer"]);
        let amount = cents(rng.gen_range_f64(10.0, 5_000.0));
        let after = cents(if tx_type == "Deposit" {
            balance + amount
        } else {
            balance - amount
        });
        let branch = 1 + rng.gen_below(99);
        let loan_amount = cents(rng.gen_range_f64(1_000.0, 50_000.0));
        let loan_type = pick(&mut rng, &["Mortgage", "Auto", "Personal"]);
        let rate = cents(rng.gen_range_f64(1.0, 10.0));
        let term = 12 * (1 + rng.gen_below(5));
        let approval = day_in(&mut rng, y2021, end2022);
        let card_type = pick(&mut rng, &["AMEX", "MasterCard", "Visa"]);
        let limit = cents(rng.gen_range_f64(1_000.0, 10_000.0));
        let card_balance = cents(rng.gen_range_f64(1.0, 5_000.0));
        let min_due = cents(card_balance * 0.05);
        let due = day_in(&mut rng, y2023, end2023);
        let paid = day_in(&mut rng, y2023, end2023);
        let points = 1 + rng.gen_below(9_999);
        let feedback_date = day_in(&mut rng, y2023, end2023);
        let feedback = pick(&mut rng, &["Suggestion", "Complaint", "Praise"]);
        let resolution = pick(&mut rng, &["Resolved", "Pending"]);
        let resolution_date = day_in(&mut rng, y2023, end2023);

        // Anomaly: nonlinear risk plus logistic noise.
        let outflow = tx_type != "Deposit";
        let overdraw = sigmoid(6.0 * (amount / balance - 0.9));
        let utilisation = card_balance / limit;
        let late_days = paid - due;
        let account_age_years = f64::from(tx_date - opened) / 365.25;
        let mut risk = -5.6;
        risk += if outflow {
            3.2 * overdraw
        } else {
            0.6 * overdraw
        };
        risk += if utilisation > 0.8 { 1.6 } else { 0.0 };
        risk += if late_days > 45 { 1.4 } else { 0.0 };
        risk += if account_age_years < 3.0 { 1.5 } else { 0.0 };
        risk += if tx_type == "Transfer" && amount > 3_000.0 {
            0.9
        } else {
            0.0
        };
        risk += if age < 25 { 0.7 } else { 0.0 };
        let anomalous = rng.gen_f64() < sigmoid(1.6 * risk + 1.3);
        let anomaly = if anomalous { -1 } else { 1 };

        // Loan status: softmax over three scores.
        let burden = loan_amount / (balance * 6.0);
        let s_rejected =
            0.9 * (rate - 6.0) + 1.2 * (burden - 1.0).clamp(-1.0, 3.0) + 0.4 * rng.gen_normal();
        let s_closed = 0.05 * (60 - term as i32) as f64 + 0.004 * f64::from(end2022 - approval)
            - 2.4
            + 0.4 * rng.gen_normal();
        let s_approved = 0.4 * rng.gen_normal();
        let (e_a, e_r, e_c) = (s_approved.exp(), s_rejected.exp(), s_closed.exp());
        let u = rng.gen_f64() * (e_a + e_r + e_c);
        let status = if u < e_a {
            "Approved"
        } else if u < e_a + e_r {
            "Rejected"
        } else {
            "Closed"
        };

        let email_first = first.to_ascii_lowercase();
        let email_last = last.to_ascii_lowercase();
        writeln!(
            out,
            "{i},{first},{last},{age},{gender},Address_{i},{city},{phone},{email_first}.{email_last}@kag.com,{account_type},{balance},{opened},{last_tx},{i},{tx_date},{tx_type},{amount},{after},{branch},{i},{loan_amount},{loan_type},{rate},{term},{approval},{status},{i},{card_type},{limit},{card_balance},{min_due},{due},{paid},{points},{i},{feedback_date},{feedback},{resolution},{resolution_date},{anomaly}",
            phone = 19_458_794_853u64 + i,
            opened = Mdy(opened),
            last_tx = Mdy(last_tx),
            tx_date = Mdy(tx_date),
            approval = Mdy(approval),
            due = Mdy(due),
            paid = Mdy(paid),
            feedback_date = Mdy(feedback_date),
            resolution_date = Mdy(resolution_date),
        )
        .map_err(io)?;
    }
    out.flush().map_err(io)
}
