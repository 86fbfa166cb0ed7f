@seed_customer @cleanup_own_rows
Feature: accounts
  Customer accounts. The before hook seeds a customer for each scenario; the
  after hook deletes only the rows the scenario wrote.

  Scenario: A new customer is on file (a1)
    Then the seeded customer is on file

  Scenario: Changing the email (a2)
    Given the identity service takes up to 500 ms
    When the customer changes their email
    Then the customer's email is the new one

  Scenario: The email change is confirmed by mail (a3)
    When the customer changes their email
    And the mail service takes up to 1000 ms
    Then the customer's email is the new one

  Scenario: Closing an account keeps the loyalty tier (a4)
    When the customer closes their account
    Then the loyalty discount for a new customer is 15 percent
