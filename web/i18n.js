// Japanese and English strings of the page. Channel modules may pass these keys to ui.status(); any other text is
// shown as given. Keys with {name} placeholders take params: t("fallback", {reason: "..."}).

export const MESSAGES = {
  ja: {
    title: "音声エージェント",
    subtitle: "マイクのボタンを押して話しかけてください",
    mic_start: "話す",
    mic_stop: "終了",
    mic_label_start: "マイクを開始",
    mic_label_stop: "会話を終了",
    level: "入力レベル",
    channel: "接続方式",
    connection: "接続",
    channel_auto: "自動",
    channel_none: "未接続",
    agent: "エージェント",
    language: "English",
    language_label: "Switch to English",
    transcript_empty: "会話の内容がここに表示されます。",
    caller: "あなた",
    assistant: "エージェント",
    tool_running: "実行中…",
    tool_ok: "完了",
    tool_failed: "エラー",
    tool_arguments: "引数",
    tool_result: "結果",
    checks: "ゲートウェイの設定",
    loading: "読み込み中…",
    ready: "準備ができました。マイクのボタンを押して話しかけてください。",
    ready_channel_note: "接続方式の変更は次の会話から有効です。",
    requesting_mic: "マイクの使用を許可してください…",
    connecting_webrtc: "WebRTC で接続しています…",
    connecting_websocket: "WebSocket で接続しています…",
    connected_webrtc: "WebRTC で接続しました。お話しください。",
    connected_websocket: "WebSocket で接続しました。お話しください。",
    listening: "お話を聞いています…",
    agent_speaking: "エージェントが話しています…",
    reconnecting: "接続が不安定です。再接続を待っています…",
    ended: "会話を終了しました。",
    ended_by_operator: "オペレーターが会話を終了しました。",
    fallback: "WebRTC で接続できませんでした（{reason}）。WebSocket に切り替えます。",
    fallback_status: "この環境では WebRTC が使えないため、WebSocket で接続します。",
    connected_fallback: "WebRTC が使えないため（{reason}）、WebSocket で接続しました。お話しください。",
    reason_status: "このゲートウェイでは無効です",
    fallback_detail: "（先に試した WebRTC: {reason}）",
    mic_denied: "マイクの使用が許可されていません。アドレスバーのマイクのアイコンから許可して、もう一度お試しください。",
    mic_missing: "マイクが見つかりません。マイクを接続して、もう一度お試しください。",
    mic_busy: "マイクを開けませんでした。ほかのアプリがマイクを使っていないか確認してください。",
    insecure: "マイクを使うには HTTPS（または localhost）でページを開く必要があります。",
    unsupported: "このブラウザは音声通話に対応していません。最新の Chrome、Edge、Safari、Firefox をお使いください。",
    provider_not_configured: "AI プロバイダーが設定されていません。ゲートウェイに OPENAI_API_KEY または Azure OpenAI の設定をしてください。",
    no_channel: "利用できる接続方式がありません。ゲートウェイの設定を確認してください。",
    connection_lost: "接続が切れました。もう一度マイクのボタンを押してください。",
    websocket_unavailable: "WebSocket の接続方式を利用できません。",
    webrtc_unavailable: "WebRTC の接続方式を利用できません（{reason}）。",
    rate_limited: "短時間に接続が集中しています。少し待ってからお試しください。",
    forbidden: "このページからは接続できません（別のサイトからの要求は拒否されます）。",
    provider_error: "AI プロバイダーとの接続に失敗しました。しばらくしてからお試しください。",
    agent_missing: "エージェント「{agent}」が見つかりません（プロファイルが削除された可能性があります）。一覧を更新しました。別のエージェントを選んでください。",
    offline_note: "オフラインデモ: AI プロバイダーが未設定のため、内蔵のエミュレーターが台本どおりに応答します（本物の AI ではありません）。",
    busy: "ただいま回線が混み合っています。少し待ってからもう一度お試しください。",
    status_failed: "ゲートウェイに接続できません。ネットワークを確認してください。",
    timeout: "時間内に接続できませんでした",
    sdp_failed: "通話の確立に失敗しました",
    tool_error: "ツールの実行に失敗しました。",
    handoff_button: "電話で続ける",
    handoff_code: "お電話でこのコードを入力してください: {code}（15分有効）",
    handoff_failed: "引き継ぎコードを発行できませんでした",
    demo_carrier: "デモ通話の回線",
    demo_carrier_off: "この回線ではデモ通話をかけられません: {reason}",
  },
  en: {
    title: "Voice agent",
    subtitle: "Press the microphone button and start talking",
    mic_start: "Talk",
    mic_stop: "End",
    mic_label_start: "Start the microphone",
    mic_label_stop: "End the conversation",
    level: "Input level",
    channel: "Channel",
    connection: "Connection",
    channel_auto: "Auto",
    channel_none: "Not connected",
    agent: "Agent",
    language: "日本語",
    language_label: "日本語に切り替え",
    transcript_empty: "The conversation will appear here.",
    caller: "You",
    assistant: "Agent",
    tool_running: "Running…",
    tool_ok: "Done",
    tool_failed: "Error",
    tool_arguments: "Arguments",
    tool_result: "Result",
    checks: "Gateway configuration",
    loading: "Loading…",
    ready: "Ready. Press the microphone button and start talking.",
    ready_channel_note: "A channel change applies to the next conversation.",
    requesting_mic: "Please allow the microphone…",
    connecting_webrtc: "Connecting over WebRTC…",
    connecting_websocket: "Connecting over WebSocket…",
    connected_webrtc: "Connected over WebRTC. Go ahead and talk.",
    connected_websocket: "Connected over WebSocket. Go ahead and talk.",
    listening: "Listening…",
    agent_speaking: "The agent is speaking…",
    reconnecting: "The connection is unstable; waiting for it to recover…",
    ended: "The conversation has ended.",
    ended_by_operator: "An operator ended the conversation.",
    fallback: "WebRTC could not connect ({reason}). Switching to WebSocket.",
    fallback_status: "WebRTC is not available here, so the WebSocket channel is used.",
    connected_fallback: "WebRTC was unavailable ({reason}), so you are connected over WebSocket. Go ahead and talk.",
    reason_status: "disabled on this gateway",
    fallback_detail: "(WebRTC was tried first: {reason}.)",
    mic_denied: "Microphone access was denied. Allow it from the microphone icon in the address bar and try again.",
    mic_missing: "No microphone was found. Connect one and try again.",
    mic_busy: "The microphone could not be opened. Check that no other app is using it.",
    insecure: "The microphone needs this page to be opened over HTTPS (or on localhost).",
    unsupported: "This browser cannot make voice calls. Please use a current Chrome, Edge, Safari or Firefox.",
    provider_not_configured: "No AI provider is configured. Set OPENAI_API_KEY or the Azure OpenAI settings on the gateway.",
    no_channel: "No channel is available. Check the gateway's configuration.",
    connection_lost: "The connection was lost. Press the microphone button to start again.",
    websocket_unavailable: "WebSocket channel unavailable.",
    webrtc_unavailable: "WebRTC channel unavailable ({reason}).",
    rate_limited: "Too many sessions were started just now. Please wait a moment and try again.",
    forbidden: "This page may not start a session (requests from other sites are refused).",
    provider_error: "The AI provider could not be reached. Please try again later.",
    agent_missing: "The agent \"{agent}\" no longer exists (its profile may have been removed). The list is updated: please choose another agent.",
    offline_note: "Offline demo: no AI provider is configured, so built-in emulators answer from a script (not a real AI).",
    busy: "All lines are busy right now. Please try again in a moment.",
    status_failed: "The gateway cannot be reached. Check your network.",
    timeout: "it did not connect in time",
    sdp_failed: "the call could not be set up",
    tool_error: "The tool failed.",
    handoff_button: "Continue by phone",
    handoff_code: "Call us and key in this code: {code} (valid 15 minutes)",
    handoff_failed: "Could not get a handoff code",
    demo_carrier: "Carrier of the demo call",
    demo_carrier_off: "No demo calls on this carrier: {reason}",
  },
};

let current = "ja";

export function pickLanguage(requested) {
  const wanted = (requested || navigator.language || "ja").toLowerCase();
  return wanted.startsWith("ja") ? "ja" : "en";
}

export function setLanguage(lang) {
  current = MESSAGES[lang] ? lang : "en";
  document.documentElement.lang = current;
  return current;
}

export function language() {
  return current;
}

export function has(key) {
  return typeof key === "string" && Object.prototype.hasOwnProperty.call(MESSAGES[current], key);
}

export function t(key, params = {}) {
  const text = has(key) ? MESSAGES[current][key] : String(key);
  return text.replace(/\{(\w+)\}/g, (_, name) => {
    const value = params[name];
    return value === undefined ? `{${name}}` : has(value) ? MESSAGES[current][value] : String(value);
  });
}

// Elements with data-i18n="key" get the text; data-i18n-attr="aria-label:key,title:key" set attributes.
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(",")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}
