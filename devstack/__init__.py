"""The local stack (`make run`): DynamoDB (moto), the Stripe emulator, `chalice local`, a local
scheduler and demo seed data. Development and test tooling only; never deployed."""
