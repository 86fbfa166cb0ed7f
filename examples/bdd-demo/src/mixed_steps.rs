//! The World, steps and hooks of the mixed suite shape (`bdd-demo feature
//! --shape mixed NAME`, `features-mixed/`), written the way real cucumber
//! suites are: cucumber's default concurrency (many scenarios at once in a
//! process), a before hook that seeds the rows a scenario needs (chosen by
//! feature tags), and an after hook that cleans, by emptying the shop's
//! tables (`@cleanup_empty_tables`) or by deleting only the scenario's own
//! rows (`@cleanup_own_rows`).
//!
//! Ground truth (`CORPUS_TRUTH`, `corpus::truth`) comes from the database:
//! every cleanup's removed tags, every update's changed tags, and one
//! `failed` line at the point a scenario fails: the tags it found missing,
//! or `genuine` for the bug that has nothing to do with state.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use bdd_demo::config::Config;
use bdd_demo::latency::Jitter;
use bdd_demo::mixed::Shop;
use bdd_demo::runner::MIXED_FEATURES;
use bdd_demo::truth::writer_tag;
use corpus::truth::{self, Who};
use cucumber::gherkin;
use cucumber::{given, then, when, World as _};
use futures::FutureExt as _;
use state_tracer::cucumber::{CucumberExt as _, Hooks};

static SHOP: OnceLock<Shop> = OnceLock::new();
static NETWORK: OnceLock<Jitter> = OnceLock::new();
/// Makes every seeded row's tag unique within the process (the pid makes it
/// unique within the run).
static NEXT_ROW: AtomicU64 = AtomicU64::new(1);

/// The loyalty discount the shop gives a new customer. The suite expects
/// 15: that mismatch is the suite's genuine bug, unrelated to any state.
const LOYALTY_DISCOUNT_PERCENT: i64 = 10;

fn shop() -> &'static Shop {
    SHOP.get().expect("the shop is open before the suite runs")
}

fn network() -> &'static Jitter {
    NETWORK
        .get()
        .expect("the network is set up before the suite runs")
}

/// What one scenario remembers between its hooks and steps.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub struct ShopWorld {
    /// This scenario as the trace and the ground truth name it.
    who: Who,
    /// Its `written_by` value.
    by: String,
    customer: Option<String>,
    products: Vec<String>,
    order: Option<String>,
    new_email: Option<String>,
    /// A `failed` line was written for this scenario.
    verdict_written: bool,
}

impl ShopWorld {
    fn new() -> ShopWorld {
        ShopWorld {
            who: Who::here("", ""),
            by: String::new(),
            customer: None,
            products: Vec::new(),
            order: None,
            new_email: None,
            verdict_written: false,
        }
    }

    fn customer(&self) -> &str {
        self.customer
            .as_deref()
            .expect("the feature seeds a customer (@seed_customer)")
    }

    /// Fails the scenario because rows it relied on are gone: the ground
    /// truth names them, whoever removed them is the culprit.
    fn fail_needing(&mut self, missing: &[String], what: &str) -> ! {
        truth::failed_needing(&self.who, missing);
        self.verdict_written = true;
        panic!("{what}: {} not found", missing.join(", "))
    }
}

fn new_tag(kind: &str, feature: &str) -> String {
    let n = NEXT_ROW.fetch_add(1, Ordering::Relaxed);
    format!(
        "{kind}-{}-{}-{n}",
        std::process::id(),
        feature.to_ascii_lowercase()
    )
}

fn has_tag(feature: &gherkin::Feature, scenario: &gherkin::Scenario, tag: &str) -> bool {
    feature
        .tags
        .iter()
        .chain(&scenario.tags)
        .any(|t| t.trim_start_matches('@') == tag)
}

/// The before hook: who this scenario is, and the rows its feature's tags
/// ask for (`@seed_customer`, `@seed_products`).
async fn seed(feature: &gherkin::Feature, scenario: &gherkin::Scenario, w: &mut ShopWorld) {
    w.who = Who::here(&feature.name, &scenario.name);
    w.by = writer_tag(std::process::id(), &feature.name, &scenario.name);
    if has_tag(feature, scenario, "seed_customer") {
        let tag = new_tag("cust", &feature.name);
        shop()
            .add_customer(&tag, &format!("{tag}@example.com"), &w.by)
            .await
            .expect("seeding a customer succeeds");
        w.customer = Some(tag);
    }
    if has_tag(feature, scenario, "seed_products") {
        for (sku, price) in [("MUG-01", 1200), ("TEE-02", 2500)] {
            let tag = new_tag("prod", &feature.name);
            shop()
                .add_product(&tag, sku, price, &w.by)
                .await
                .expect("seeding a product succeeds");
            w.products.push(tag);
        }
    }
}

/// The after hook: empty the shop (`@cleanup_empty_tables`) or delete this
/// scenario's own rows (`@cleanup_own_rows`); what was really removed goes
/// to the ground truth.
async fn clean(feature: &gherkin::Feature, scenario: &gherkin::Scenario, by: &str, who: &Who) {
    let removed = if has_tag(feature, scenario, "cleanup_empty_tables") {
        shop().empty_tables().await
    } else if has_tag(feature, scenario, "cleanup_own_rows") {
        async {
            let mut removed = Vec::new();
            for table in bdd_demo::mixed::TABLES {
                removed.push((*table, shop().delete_written_by(table, by).await?));
            }
            Ok(removed)
        }
        .await
    } else {
        Ok(Vec::new())
    };
    match removed {
        Ok(removed) => {
            for (table, tags) in removed {
                truth::removed(who, table, &tags);
            }
        }
        Err(e) => eprintln!("bdd-demo: cleanup of {who:?} failed: {e}"),
    }
}

async fn remote_call(service: &str, max_ms: u64) {
    network()
        .remote_call("GET", &format!("/{service}"), max_ms / 4, max_ms)
        .await;
}

#[given(expr = "the {word} service takes up to {int} ms")]
async fn given_service(_w: &mut ShopWorld, service: String, max_ms: u64) {
    remote_call(&service, max_ms).await;
}

#[when(expr = "the {word} service takes up to {int} ms")]
async fn when_service(_w: &mut ShopWorld, service: String, max_ms: u64) {
    remote_call(&service, max_ms).await;
}

#[then("the seeded products are in the catalog")]
async fn products_listed(w: &mut ShopWorld) {
    let mut missing = Vec::new();
    for tag in &w.products {
        if shop().price(tag).await.expect("query succeeds").is_none() {
            missing.push(tag.clone());
        }
    }
    if !missing.is_empty() {
        w.fail_needing(&missing, "catalog listing");
    }
}

#[when(expr = "the seeded products are repriced by {int} percent")]
async fn reprice(w: &mut ShopWorld, percent: i64) {
    let mut missing = Vec::new();
    for tag in w.products.clone() {
        match shop()
            .reprice(&tag, percent)
            .await
            .expect("update succeeds")
        {
            Some(changed) => truth::changed(&w.who, "products", &[changed]),
            None => missing.push(tag),
        }
    }
    if !missing.is_empty() {
        w.fail_needing(&missing, "repricing");
    }
}

#[when(expr = "the customer orders {int} of the seeded product")]
async fn order(w: &mut ShopWorld, quantity: i64) {
    let customer = w.customer().to_owned();
    let product = w
        .products
        .first()
        .cloned()
        .expect("the feature seeds products (@seed_products)");
    let mut missing = Vec::new();
    if shop()
        .customer(&customer)
        .await
        .expect("query succeeds")
        .is_none()
    {
        missing.push(customer.clone());
    }
    if shop()
        .price(&product)
        .await
        .expect("query succeeds")
        .is_none()
    {
        missing.push(product.clone());
    }
    if !missing.is_empty() {
        w.fail_needing(&missing, "placing the order");
    }
    let tag = new_tag("order", &w.who.feature);
    shop()
        .place_order(&tag, &customer, &product, quantity, &w.by)
        .await
        .expect("insert succeeds");
    w.order = Some(tag);
}

#[then(expr = "the order for {int} is on file")]
async fn order_on_file(w: &mut ShopWorld, quantity: i64) {
    let tag = w.order.clone().expect("an order was placed");
    match shop().order_quantity(&tag).await.expect("query succeeds") {
        Some(q) => assert_eq!(q, quantity, "order {tag} quantity"),
        None => w.fail_needing(&[tag], "order confirmation"),
    }
}

#[then("the seeded customer is on file")]
async fn customer_on_file(w: &mut ShopWorld) {
    let tag = w.customer().to_owned();
    if shop()
        .customer(&tag)
        .await
        .expect("query succeeds")
        .is_none()
    {
        w.fail_needing(&[tag], "customer profile");
    }
}

#[when("the customer changes their email")]
async fn change_email(w: &mut ShopWorld) {
    let tag = w.customer().to_owned();
    let email = format!("new-{tag}@example.com");
    match shop()
        .change_email(&tag, &email)
        .await
        .expect("update succeeds")
    {
        Some(changed) => truth::changed(&w.who, "customers", &[changed]),
        None => w.fail_needing(&[tag], "email change"),
    }
    w.new_email = Some(email);
}

#[then("the customer's email is the new one")]
async fn email_is_new(w: &mut ShopWorld) {
    let tag = w.customer().to_owned();
    let expected = w.new_email.clone().expect("the email was changed");
    match shop().customer(&tag).await.expect("query succeeds") {
        Some(c) => assert_eq!(c.email, expected, "email of {tag}"),
        None => w.fail_needing(&[tag], "email confirmation"),
    }
}

#[when("the customer closes their account")]
async fn close_account(w: &mut ShopWorld) {
    // The account's own rows, like the after hook would: a scoped delete.
    for table in bdd_demo::mixed::TABLES {
        let tags = shop()
            .delete_written_by(table, &w.by)
            .await
            .expect("delete succeeds");
        truth::removed(&w.who, table, &tags);
    }
}

#[then(expr = "the loyalty discount for a new customer is {int} percent")]
async fn loyalty_discount(w: &mut ShopWorld, percent: i64) {
    if LOYALTY_DISCOUNT_PERCENT != percent {
        truth::failed_genuinely(
            &w.who,
            "assertion on the loyalty discount constant (10, expected 15)",
        );
        w.verdict_written = true;
        panic!("loyalty discount is {LOYALTY_DISCOUNT_PERCENT} percent, expected {percent}");
    }
}

/// Runs one feature of the mixed shape in this process.
pub fn run_feature(name: &str, cucumber_args: &[String]) -> ExitCode {
    let config = Config::from_env();
    let dir = std::env::var_os("BDD_MIXED_FEATURES_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/features-mixed").into());
    let path = dir.join(format!("{name}.feature"));
    if !path.is_file() {
        eprintln!(
            "bdd-demo: no feature file {} (mixed features: {})",
            path.display(),
            MIXED_FEATURES.join(", ")
        );
        return ExitCode::from(2);
    }
    if std::env::var_os("BDD_TRACE_PROCESS").is_none() {
        std::env::set_var("BDD_TRACE_PROCESS", name);
    }
    state_tracer::rerun::declare(state_tracer::rerun::Framework::Cucumber);
    let _trace = state_tracer::init();

    let (cli, runtime) = match crate::cli_and_runtime(
        format!("bdd-demo feature --shape mixed {name}"),
        cucumber_args,
    ) {
        Ok(both) => both,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let tag = format!("{name}_{}", std::process::id());
        let shop_db = match Shop::open(&config.database_url, config.schema_isolation, &tag).await {
            Ok(shop) => shop,
            Err(e) => {
                eprintln!("bdd-demo: cannot open the database: {e}");
                return ExitCode::from(2);
            }
        };
        let _ = SHOP.set(shop_db.clone());
        let _ = NETWORK.set(Jitter::new(config.seed, name));

        // No max_concurrent_scenarios: cucumber's default, as most suites
        // leave it.
        let writer = ShopWorld::cucumber()
            .trace_state(
                Hooks::new()
                    .before(|feature, _rule, scenario, world: &mut ShopWorld| {
                        seed(feature, scenario, world).boxed_local()
                    })
                    .after(|feature, _rule, scenario, finished, world| {
                        let failed = !matches!(
                            finished,
                            cucumber::event::ScenarioFinished::StepPassed
                                | cucumber::event::ScenarioFinished::StepSkipped
                        );
                        let who = Who::here(&feature.name, &scenario.name);
                        let by = writer_tag(std::process::id(), &feature.name, &scenario.name);
                        let verdict_written = world.is_some_and(|w| w.verdict_written);
                        async move {
                            clean(feature, scenario, &by, &who).await;
                            if failed && !verdict_written {
                                // A harness gap: shows as `unknown` in the score.
                                eprintln!(
                                    "bdd-demo: {who:?} failed for a reason the suite did not classify"
                                );
                            }
                        }
                        .boxed_local()
                    }),
            )
            .with_cli(cli)
            .run(path)
            .await;
        shop_db.close().await;
        use cucumber::writer::Stats as _;
        if writer.execution_has_failed() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    })
}
