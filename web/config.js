// The one setting of the dashboard: where the API lives. A static deployment (S3/CloudFront)
// replaces this file; `python web/serve.py --api-base URL` serves a generated one.
export const API_BASE_URL = "http://127.0.0.1:8000";
