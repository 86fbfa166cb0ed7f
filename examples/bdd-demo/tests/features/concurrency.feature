Feature: concurrency
  Used by the e2e test that runs scenarios concurrently inside one process
  and checks that their records never mix.

  Background:
    Given the service is up

  Scenario: Concurrent one
    Given a registered user "c1" with password "pw"
    When "c1" is greeted

  Scenario: Concurrent two
    Given a registered user "c2" with password "pw"
    When "c2" is greeted

  Scenario: Concurrent three
    Given a registered user "c3" with password "pw"
    When "c3" is greeted

  Scenario: Concurrent four
    Given a registered user "c4" with password "pw"
    When "c4" is greeted

  Scenario: Concurrent five
    Given a registered user "c5" with password "pw"
    When "c5" is greeted

  Scenario: Concurrent six
    Given a registered user "c6" with password "pw"
    When "c6" is greeted
