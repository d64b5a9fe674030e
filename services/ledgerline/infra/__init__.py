"""Local infrastructure for the platform and the tests: PostgreSQL, Redis and Kafka on loopback."""
