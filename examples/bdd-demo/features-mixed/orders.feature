@seed_customer @seed_products @cleanup_own_rows
Feature: orders
  Customers order products. The before hook seeds a customer and products
  for each scenario; the after hook deletes only the rows the scenario wrote.

  Scenario: Ordering a single item (o1)
    When the customer orders 1 of the seeded product
    Then the order for 1 is on file

  Scenario: Paying by card (o2)
    Given the payment service takes up to 700 ms
    When the customer orders 2 of the seeded product
    Then the order for 2 is on file

  Scenario: Shipping abroad (o3)
    When the customer orders 1 of the seeded product
    And the shipping service takes up to 1500 ms
    Then the order for 1 is on file

  Scenario: Ordering after a price check (o4)
    Given the pricing service takes up to 250 ms
    Then the seeded products are in the catalog
    When the customer orders 3 of the seeded product
    Then the order for 3 is on file
