@seed_products @cleanup_empty_tables
Feature: catalog
  Catalog maintenance. Each scenario gets its own products from the before
  hook; the after hook resets the shop by emptying its tables, the way a
  copied "clean database" helper does.

  Scenario: New products are listed (c1)
    Given the supplier service takes up to 900 ms
    Then the seeded products are in the catalog

  Scenario: Seasonal repricing (c2)
    Given the supplier service takes up to 600 ms
    When the seeded products are repriced by 10 percent
    And the storefront service takes up to 400 ms
    Then the seeded products are in the catalog

  Scenario: Publishing the catalog to the storefront (c3)
    Given the storefront service takes up to 1200 ms
    Then the seeded products are in the catalog
