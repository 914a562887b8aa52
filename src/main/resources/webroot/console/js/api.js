// The console's only way to the server: the public API with the signed-in user's bearer token. Every failure
// becomes an ApiError carrying the server's code, message and request id, so pages can show them as they are.

export class ApiError extends Error {
  constructor(status, code, message, requestId, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.body = body;
  }
}

async function failure(response) {
  const requestId = response.headers.get('X-Request-Id');
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  const err = body && body.error ? body.error : body || {};
  return new ApiError(response.status, err.code || 'HTTP_' + response.status,
      err.message || response.statusText || 'Request failed', err.request_id || err.requestId || requestId, body);
}

export function createApi(tokenOf) {
  const headers = (extra) => {
    const h = Object.assign({}, extra || {});
    const token = tokenOf();
    if (token) {
      h.Authorization = 'Bearer ' + token;
    }
    return h;
  };

  /** fetch with the token; resolves to the Response when it is 2xx, rejects with an ApiError otherwise. */
  async function raw(path, options = {}) {
    let response;
    try {
      response = await fetch(path, Object.assign({}, options, {headers: headers(options.headers)}));
    } catch (e) {
      throw new ApiError(0, 'NETWORK', 'The server cannot be reached (' + e.message + ')', null, null);
    }
    if (!response.ok) {
      throw await failure(response);
    }
    return response;
  }

  /** A JSON call: body objects are sent as JSON; answers without content resolve to null. */
  async function json(path, options = {}) {
    const o = Object.assign({}, options);
    if (o.body !== undefined && !(o.body instanceof FormData) && typeof o.body !== 'string') {
      o.body = JSON.stringify(o.body);
      o.headers = Object.assign({'Content-Type': 'application/json'}, o.headers || {});
    }
    const response = await raw(path, o);
    if (response.status === 204) {
      return null;
    }
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  /** A multipart upload with progress (fetch cannot report upload progress); resolves to the JSON answer. */
  function upload(path, form, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      const token = tokenOf();
      if (token) {
        xhr.setRequestHeader('Authorization', 'Bearer ' + token);
      }
      xhr.upload.onprogress = (e) => onProgress && e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'The upload was cut off', null, null));
      xhr.onload = () => {
        let body = null;
        try {
          body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
        } catch (e) {
          body = null;
        }
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(body);
          return;
        }
        const err = body && body.error ? body.error : body || {};
        reject(new ApiError(xhr.status, err.code || 'HTTP_' + xhr.status, err.message || 'Upload failed',
            err.request_id || err.requestId || xhr.getResponseHeader('X-Request-Id'), body));
      };
      xhr.send(form);
    });
  }

  /** An object URL for a protected file (img elements cannot send a token); revoke it when done. */
  async function objectUrl(path) {
    const response = await raw(path);
    return URL.createObjectURL(await response.blob());
  }

  /** Saves what path answers as a file named name. */
  async function download(path, name) {
    const url = await objectUrl(path);
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  /** An EventSource on path; the token goes as access_token, since EventSource cannot send headers. */
  function events(path, params = {}) {
    const url = new URL(path, location.href);
    Object.entries(params).forEach(([k, v]) => v !== undefined && v !== null && v !== '' &&
        url.searchParams.set(k, v));
    const token = tokenOf();
    if (token) {
      url.searchParams.set('access_token', token);
    }
    return new EventSource(url.toString());
  }

  return {raw, json, upload, objectUrl, download, events};
}
