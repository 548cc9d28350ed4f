"""DynamoDB single table through PynamoDB: models, key builders, transactions."""
