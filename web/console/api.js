// JSON calls to /api/console. The HttpOnly cookie set at login authenticates them; the page never sees the token.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401 || response.status === 403) {
    window.location.assign("/console"); // the cookie expired or the token changed: back to the login form
  }
  if (!response.ok) {
    throw new ApiError(response.status, (data && (data.detail || data.error)) || response.statusText);
  }
  return data;
}
