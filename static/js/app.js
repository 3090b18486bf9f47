/*
 * inferapi web client.
 *
 * Plain JavaScript, no build step. Runs under a strict CSP: no inline
 * script or style; widths are set through the CSSOM (element.style), which
 * CSP allows. Server data is only ever written with textContent.
 *
 * Calls (same origin):
 *   POST /api/v1/token/     no body; "Authorization: Bearer <token>" to renew
 *   POST /api/v1/classify/  multipart: image (file), top_k (1-10)
 */
(() => {
  'use strict';

  const body = document.body;
  const TOKEN_URL = body.dataset.tokenUrl || '/api/v1/token/';
  const CLASSIFY_URL = body.dataset.classifyUrl || '/api/v1/classify/';

  const STORAGE_KEY = 'inferapi.token';
  const DEFAULT_LIFETIME_S = 3600;
  const MAX_RENEW_MARGIN_MS = 60 * 1000; // renew a minute before expiry...
  const MIN_RENEW_MARGIN_MS = 1000; // ...or sooner for very short tokens
  const RENEW_RETRY_MS = 30 * 1000;
  const REQUEST_TIMEOUT_MS = 60 * 1000;
  const MAX_TIMER_MS = 2147483647;

  const SUPPORTED_TYPES_TEXT = 'JPEG, PNG, WebP, GIF or BMP';

  // ---------------------------------------------------------------- elements
  const $ = (id) => document.getElementById(id);
  const els = {
    fileInput: $('file-input'),
    dropZone: $('drop-zone'),
    canvas: $('canvas'),
    clearCanvas: $('clear-canvas'),
    classifyDrawing: $('classify-drawing'),
    topK: $('top-k'),
    preview: $('preview'),
    previewEmpty: $('preview-empty'),
    predictions: $('predictions'),
    error: $('error'),
    status: $('status'),
    meta: $('result-meta'),
    result: $('result'),
  };

  // ------------------------------------------------------------------ errors
  /** An error whose message is fit to show to a person as it is. */
  class UserError extends Error {
    constructor(message, { status = 0, code = '' } = {}) {
      super(message);
      this.name = 'UserError';
      this.status = status;
      this.code = code;
    }
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? '' : 's'}`;
  }

  /** Seconds from a Retry-After header (delta-seconds or HTTP date), or null. */
  function parseRetryAfter(value) {
    if (!value) return null;
    const trimmed = value.trim();
    if (/^\d+$/.test(trimmed)) return parseInt(trimmed, 10);
    const date = Date.parse(trimmed);
    if (Number.isNaN(date)) return null;
    return Math.max(0, Math.ceil((date - Date.now()) / 1000));
  }

  function retryText(seconds) {
    if (seconds === null) return 'Try again later.';
    if (seconds < 60) return `Try again in ${plural(Math.max(1, seconds), 'second')}.`;
    return `Try again in ${plural(Math.ceil(seconds / 60), 'minute')}.`;
  }

  /** Turns an HTTP error answer into a sentence for the person. */
  function describeHttpError(status, data, headers) {
    const detail = data && typeof data.detail === 'string' ? data.detail.trim() : '';
    const code = data && typeof data.code === 'string' ? data.code : '';

    if (code === 'rate_limited' || status === 429) {
      return `Too many requests from your address. ${retryText(parseRetryAfter(headers.get('Retry-After')))}`;
    }
    if (code === 'image_too_large' || status === 413) {
      return 'That image is too large. Please choose a smaller file.';
    }
    if (code === 'unsupported_media_type' || status === 415) {
      return `That file is not a supported image (${SUPPORTED_TYPES_TEXT}).`;
    }
    if (code === 'model_unavailable' || status === 503) {
      return 'The model is unavailable right now. Please try again shortly.';
    }
    if (code === 'model_timeout' || status === 504) {
      return 'The model is slow to answer right now. Please try again shortly.';
    }
    if (code === 'not_authenticated' || code === 'token_not_valid' || status === 401) {
      return 'The server did not accept our access token. Please reload the page and try again.';
    }
    if (detail) return detail;
    if (code === 'model_error' || status === 502) {
      return 'The model failed on this image. Please try again, or try another image.';
    }
    if (code === 'invalid_image') return 'That image could not be read. Please try another one.';
    if (status >= 500) return `The server had a problem (HTTP ${status}). Please try again shortly.`;
    return `The request failed (HTTP ${status}).`;
  }

  /**
   * fetch() that always resolves to {status, ok, headers, data} with parsed
   * JSON, or throws a UserError in plain words (network failure, timeout,
   * non-JSON body).
   */
  async function requestJson(url, options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    let text;
    try {
      response = await fetch(url, {
        credentials: 'same-origin',
        cache: 'no-store',
        ...options,
        signal: controller.signal,
      });
      text = await response.text();
    } catch (err) {
      if (err && err.name === 'AbortError') {
        throw new UserError('The server took too long to answer. Please try again.');
      }
      throw new UserError('Could not reach the server. Check your connection and try again.');
    } finally {
      clearTimeout(timer);
    }

    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (err) {
        data = null;
      }
    }
    const result = { status: response.status, ok: response.ok, headers: response.headers, data };
    if (data === null || typeof data !== 'object') {
      // Some statuses speak for themselves even when a proxy sent HTML.
      if ([413, 415, 429, 503, 504].includes(response.status)) {
        throw new UserError(describeHttpError(response.status, null, response.headers), {
          status: response.status,
        });
      }
      if (response.status === 401) return { ...result, data: {} };
      throw new UserError(
        `The server sent an unexpected answer (HTTP ${response.status}). Please try again shortly.`,
        { status: response.status },
      );
    }
    return result;
  }

  function errorFrom(result) {
    const code = result.data && typeof result.data.code === 'string' ? result.data.code : '';
    return new UserError(describeHttpError(result.status, result.data, result.headers), {
      status: result.status,
      code,
    });
  }

  // ------------------------------------------------------------------- token
  const memoryStore = {};
  const store = {
    get() {
      let raw = null;
      try {
        raw = window.sessionStorage.getItem(STORAGE_KEY);
      } catch (err) {
        raw = memoryStore[STORAGE_KEY] || null;
      }
      if (!raw) return null;
      try {
        const token = JSON.parse(raw);
        if (token && typeof token.access === 'string' && Number.isFinite(token.expiresAt)) {
          return token;
        }
      } catch (err) {
        /* fall through */
      }
      return null;
    },
    set(token) {
      const raw = JSON.stringify(token);
      try {
        window.sessionStorage.setItem(STORAGE_KEY, raw);
      } catch (err) {
        memoryStore[STORAGE_KEY] = raw;
      }
    },
    clear() {
      try {
        window.sessionStorage.removeItem(STORAGE_KEY);
      } catch (err) {
        /* ignore */
      }
      delete memoryStore[STORAGE_KEY];
    },
  };

  function renewMargin(token) {
    const lifetime = (token.expiresIn || DEFAULT_LIFETIME_S) * 1000;
    return Math.max(MIN_RENEW_MARGIN_MS, Math.min(MAX_RENEW_MARGIN_MS, lifetime * 0.1));
  }

  let renewTimer = null;
  let pendingToken = null;

  function scheduleRenewal(token, delayOverride) {
    clearTimeout(renewTimer);
    renewTimer = null;
    if (!token) return;
    const delay = delayOverride !== undefined
      ? delayOverride
      : token.expiresAt - renewMargin(token) - Date.now();
    renewTimer = setTimeout(() => {
      getToken().catch(() => {
        // Quiet in the background: the next classify shows any real problem.
        const current = store.get();
        if (current && current.expiresAt > Date.now()) scheduleRenewal(current, RENEW_RETRY_MS);
      });
    }, Math.min(MAX_TIMER_MS, Math.max(0, delay)));
  }

  /** POST /api/v1/token/, renewing `current` (Bearer) when given. */
  async function fetchToken(current) {
    const headers = { Accept: 'application/json' };
    if (current) headers.Authorization = `Bearer ${current.access}`;
    const result = await requestJson(TOKEN_URL, { method: 'POST', headers });
    if (result.status === 401 && current) {
      // The old token is no longer accepted: drop it and start afresh.
      store.clear();
      return fetchToken(null);
    }
    if (!result.ok) throw errorFrom(result);
    const { access } = result.data;
    if (typeof access !== 'string' || !access) {
      throw new UserError('The server sent an unexpected answer while signing in. Please reload the page.');
    }
    const expiresIn = Number(result.data.expires_in) > 0 ? Number(result.data.expires_in) : DEFAULT_LIFETIME_S;
    const token = {
      access,
      expiresIn,
      expiresAt: Date.now() + expiresIn * 1000,
      visitorId: typeof result.data.visitor_id === 'string' ? result.data.visitor_id : '',
    };
    store.set(token);
    scheduleRenewal(token);
    return token;
  }

  /**
   * A usable token: the stored one, renewed with its Bearer header when it is
   * about to expire, or a new one. Concurrent callers share one request.
   */
  function getToken({ forceNew = false } = {}) {
    if (forceNew) store.clear();
    const current = store.get();
    const now = Date.now();
    if (current && current.expiresAt - renewMargin(current) > now) {
      return Promise.resolve(current);
    }
    if (!pendingToken) {
      const renewable = current && current.expiresAt > now ? current : null;
      if (current && !renewable) store.clear();
      pendingToken = fetchToken(renewable).finally(() => {
        pendingToken = null;
      });
    }
    return pendingToken;
  }

  // ---------------------------------------------------------------- classify
  function topK() {
    const value = parseInt(els.topK.value, 10);
    return Number.isInteger(value) ? Math.min(10, Math.max(1, value)) : 5;
  }

  async function postClassify(blob, filename, k, token) {
    const form = new FormData();
    form.append('image', blob, filename);
    form.append('top_k', String(k));
    return requestJson(CLASSIFY_URL, {
      method: 'POST',
      headers: { Accept: 'application/json', Authorization: `Bearer ${token.access}` },
      body: form,
    });
  }

  async function classify(blob, filename) {
    const k = topK();
    let token = await getToken();
    let result = await postClassify(blob, filename, k, token);
    if (result.status === 401) {
      // Once: get a fresh token (without the refused one) and retry.
      token = await getToken({ forceNew: true });
      result = await postClassify(blob, filename, k, token);
    }
    if (!result.ok) throw errorFrom(result);
    if (!result.data || !Array.isArray(result.data.predictions)) {
      throw new UserError('The server sent an unexpected answer. Please try again shortly.');
    }
    return result.data;
  }

  // -------------------------------------------------------------------- view
  let busy = false;
  let previewUrl = null;

  function setStatus(text) {
    els.status.textContent = text;
  }

  function setError(text) {
    els.error.textContent = text;
  }

  function setBusy(value) {
    busy = value;
    els.clearCanvas.disabled = value;
    els.classifyDrawing.disabled = value;
    els.fileInput.disabled = value;
    els.dropZone.classList.toggle('is-disabled', value);
    els.result.setAttribute('aria-busy', value ? 'true' : 'false');
  }

  function showPreview(blob) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(blob);
    els.preview.src = previewUrl;
    els.preview.hidden = false;
    els.previewEmpty.hidden = true;
  }

  function clearResult() {
    els.predictions.replaceChildren();
    els.meta.textContent = '';
  }

  function formatPercent(score) {
    return `${(score * 100).toFixed(1)}%`;
  }

  function formatMs(value) {
    const n = Number(value);
    if (!Number.isFinite(n)) return '';
    return n < 10 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
  }

  function renderPredictions(data) {
    const items = data.predictions
      .map((p) => ({
        label: p && p.label !== undefined && p.label !== null ? String(p.label) : '?',
        score: Math.min(1, Math.max(0, Number(p && p.score) || 0)),
      }))
      .sort((a, b) => b.score - a.score);

    const nodes = items.map((p, index) => {
      const li = document.createElement('li');
      li.className = index === 0 ? 'prediction top' : 'prediction';

      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = p.label;

      const track = document.createElement('span');
      track.className = 'bar-track';
      track.setAttribute('aria-hidden', 'true');
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${(p.score * 100).toFixed(1)}%`;
      track.append(bar);

      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = formatPercent(p.score);

      li.append(label, track, score);
      return li;
    });
    els.predictions.replaceChildren(...nodes);

    const parts = [];
    if (data.model && typeof data.model === 'object') {
      const name = data.model.name ? String(data.model.name) : 'model';
      parts.push(data.model.version ? `Model ${name} v${data.model.version}` : `Model ${name}`);
    }
    if (data.timing_ms && typeof data.timing_ms === 'object') {
      const total = formatMs(data.timing_ms.total);
      const model = formatMs(data.timing_ms.model);
      if (total) parts.push(model ? `${total} total (model ${model})` : `${total} total`);
    }
    if (data.request_id) parts.push(`request ${String(data.request_id)}`);
    els.meta.textContent = parts.join(' · ');

    if (items.length === 0) return 'The model returned no predictions.';
    return `Most likely “${items[0].label}” (${formatPercent(items[0].score)}).`;
  }

  /** On a narrow screen the result sits below the inputs: bring it into view. */
  function revealResult() {
    const rect = els.result.getBoundingClientRect();
    if (rect.top < window.innerHeight && rect.bottom > 0) return;
    const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    els.result.scrollIntoView({ behavior: smooth ? 'smooth' : 'auto', block: 'start' });
  }

  /** Classifies the Blob that `getBlob` resolves to; one request at a time. */
  async function run(getBlob, filename) {
    if (busy) {
      setStatus('Please wait for the current image to finish.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      const blob = await getBlob();
      clearResult();
      showPreview(blob);
      setStatus('Classifying…');
      const data = await classify(blob, filename);
      setStatus(renderPredictions(data));
      revealResult();
    } catch (err) {
      setStatus('');
      setError(err instanceof UserError ? err.message : 'Something went wrong. Please try again.');
      if (!(err instanceof UserError)) console.error(err); // eslint-disable-line no-console
    } finally {
      setBusy(false);
    }
  }

  // ------------------------------------------------------------ file & drop
  function handleFile(file) {
    if (!file) return;
    run(() => Promise.resolve(file), file.name || 'image');
  }

  els.fileInput.addEventListener('change', () => {
    const file = els.fileInput.files && els.fileInput.files[0];
    handleFile(file);
    // Let the same file be chosen again.
    els.fileInput.value = '';
  });

  const hasFiles = (event) => event.dataTransfer
    && Array.from(event.dataTransfer.types || []).includes('Files');

  let dragDepth = 0;
  els.dropZone.addEventListener('dragenter', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth += 1;
    els.dropZone.classList.add('is-dragover');
  });
  els.dropZone.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = busy ? 'none' : 'copy';
  });
  els.dropZone.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) els.dropZone.classList.remove('is-dragover');
  });
  els.dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    dragDepth = 0;
    els.dropZone.classList.remove('is-dragover');
    const files = event.dataTransfer && event.dataTransfer.files;
    handleFile(files && files[0]);
  });

  // A file dropped anywhere else must not make the browser leave the page.
  window.addEventListener('dragover', (event) => {
    if (hasFiles(event)) event.preventDefault();
  });
  window.addEventListener('drop', (event) => {
    if (hasFiles(event)) event.preventDefault();
  });

  // Pasting an image (e.g. a screenshot) classifies it.
  document.addEventListener('paste', (event) => {
    const items = event.clipboardData ? Array.from(event.clipboardData.items) : [];
    const item = items.find((i) => i.kind === 'file' && i.type.startsWith('image/'));
    if (!item) return;
    event.preventDefault();
    handleFile(item.getAsFile());
  });

  // ------------------------------------------------------------------ canvas
  const ctx = els.canvas.getContext('2d');
  const STROKE_WIDTH = 22;

  function resetCanvas() {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, els.canvas.width, els.canvas.height);
    ctx.restore();
    ctx.strokeStyle = '#000000';
    ctx.fillStyle = '#000000';
    ctx.lineWidth = STROKE_WIDTH;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
  }

  function canvasIsBlank() {
    const { width, height } = els.canvas;
    const pixels = ctx.getImageData(0, 0, width, height).data;
    for (let i = 0; i < pixels.length; i += 4) {
      if (pixels[i] < 250 || pixels[i + 1] < 250 || pixels[i + 2] < 250) return false;
    }
    return true;
  }

  function canvasPoint(event) {
    const rect = els.canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * els.canvas.width) / rect.width,
      y: ((event.clientY - rect.top) * els.canvas.height) / rect.height,
    };
  }

  let activePointer = null;
  let last = null;

  function dot(point) {
    ctx.beginPath();
    ctx.arc(point.x, point.y, STROKE_WIDTH / 2, 0, Math.PI * 2);
    ctx.fill();
  }

  function lineTo(point) {
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(point.x, point.y);
    ctx.stroke();
    last = point;
  }

  els.canvas.addEventListener('pointerdown', (event) => {
    if (activePointer !== null || (event.pointerType === 'mouse' && event.button !== 0)) return;
    event.preventDefault();
    activePointer = event.pointerId;
    try {
      els.canvas.setPointerCapture(event.pointerId);
    } catch (err) {
      /* synthetic events cannot be captured */
    }
    last = canvasPoint(event);
    dot(last);
  });

  els.canvas.addEventListener('pointermove', (event) => {
    if (event.pointerId !== activePointer) return;
    event.preventDefault();
    const events = typeof event.getCoalescedEvents === 'function' ? event.getCoalescedEvents() : [];
    (events.length ? events : [event]).forEach((e) => lineTo(canvasPoint(e)));
  });

  const endStroke = (event) => {
    if (event.pointerId !== activePointer) return;
    activePointer = null;
    last = null;
  };
  els.canvas.addEventListener('pointerup', endStroke);
  els.canvas.addEventListener('pointercancel', endStroke);
  els.canvas.addEventListener('lostpointercapture', endStroke);

  els.clearCanvas.addEventListener('click', () => {
    resetCanvas();
    setStatus('Drawing cleared.');
  });

  els.classifyDrawing.addEventListener('click', () => {
    if (busy) return;
    if (canvasIsBlank()) {
      setError('');
      setStatus('Draw a digit on the canvas first.');
      return;
    }
    run(() => new Promise((resolve, reject) => {
      els.canvas.toBlob((blob) => {
        if (blob) resolve(blob);
        else reject(new UserError('Could not read the drawing. Please try again.'));
      }, 'image/png');
    }), 'drawing.png');
  });

  // -------------------------------------------------------------------- init
  resetCanvas();

  // Timers are slowed in background tabs: check again when the page returns.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible') return;
    const current = store.get();
    if (!current || current.expiresAt - renewMargin(current) <= Date.now()) {
      getToken().catch(() => {});
    }
  });

  setStatus('Connecting…');
  getToken()
    .then((token) => {
      scheduleRenewal(token); // also for a token kept from an earlier visit
      if (!busy) setStatus('Ready. Choose an image or draw a digit.');
    })
    .catch((err) => {
      if (busy) return;
      setStatus('');
      setError(err instanceof UserError ? err.message : 'Could not connect to the server.');
    });
})();
