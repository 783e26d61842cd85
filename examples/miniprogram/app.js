// The mini program's entry. SERVER is your shop's HTTPS origin: add it to the mini
// program's "request legal domains" (request 合法域名) in the WeChat admin console.
App({
  globalData: {
    SERVER: "https://shop.example.com",
    PREFIX: "/wxpay", // where wxpay-mw is mounted on your server
  },
});
