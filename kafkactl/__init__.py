"""kafkactl: declarative, plan-first configuration and operations for Kafka clusters over SSH."""

__version__ = "0.1.0"
